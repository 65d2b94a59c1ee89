"""The nodes of ``SpleeterCluster(nodes=[...])``: `spl serve` instances, which one takes the next input, which are down.

A node is an address (``host:port`` means ``http://host:port``) reached through the same
standard-library ``Remote`` as `spl separate --server`; `--server` itself is a cluster of one
node. Inputs go to the nodes ``round_robin`` (each live node in turn) or ``least_loaded`` (the
node whose queue is shortest for its workers, as its ``/readyz`` reports it, counting the uploads
this client has started there and the server cannot see yet). A node that fails an input
(``NodeFailed``: unreachable, a 5xx, its job lost) is taken out of the rotation for the rest of the
run while another node is live, and the input is retried there; with no other node left, the
input fails with the node's error, as it would on a single server.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SplError, ValidationError
from .remote import Remote, Unreachable

BALANCERS = ("round_robin", "least_loaded")
PROBE_TIMEOUT = 5.0  # seconds a node may take to answer /readyz before it counts as gone
_NOT_READY = 1_000_000.0  # added to a not-ready node's load: it gets work only when no node is ready


class NodeFailed(Exception):
    """The node, not the input, failed (``error`` says how): the input may be retried on another node."""

    def __init__(self, error: SplError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Attempt:
    """One try of one input on one node: ``outcome`` is "done", "failed" (the input's own error) or "node failed"."""

    input: Path
    node: str
    outcome: str
    message: str | None = None


@dataclass(eq=False)
class Node:
    """One `spl serve`; ``down`` says why it left the rotation, ``pending`` counts uploads it has not answered yet."""

    remote: Remote
    down: str | None = None
    pending: int = 0

    @property
    def url(self) -> str:
        return self.remote.url

    def probe(self) -> dict[str, Any]:
        """The node's ``/readyz`` answer (200 or 503, both JSON); raises ``Unreachable``, or ValidationError (token, not spl)."""
        answer = self.remote.with_timeout(PROBE_TIMEOUT).get("/readyz")
        return dict(answer.body or {})

    def load(self, state: dict[str, Any]) -> float:
        """Jobs per worker, this client's unanswered uploads included; a node that is not ready comes last."""
        jobs = int(state.get("queued", 0)) + int(state.get("running", 0)) + self.pending
        load = jobs / max(1, int(state.get("workers", 1)))
        return load if state.get("status") == "ready" else load + _NOT_READY


def node_url(address: str) -> str:
    """``host:port`` (the documented form) means ``http://host:port``; ``http(s)://`` URLs are kept as given."""
    address = address.strip()
    return address if "://" in address else f"http://{address}"


def check_balancer(load_balancer: str) -> str:
    if load_balancer not in BALANCERS:
        raise ValidationError(
            f"load_balancer={load_balancer!r}: not a known balancer", hint="use " + " or ".join(repr(name) for name in BALANCERS)
        )
    return load_balancer


class Nodes:
    """The nodes of one run and the balancer choosing among them; safe to use from the run's threads at once."""

    def __init__(self, remotes: Sequence[Remote], load_balancer: str = "round_robin") -> None:
        if not remotes:
            raise ValidationError("nodes=[]: a cluster needs at least one node", hint='e.g. nodes=["worker1:8080", "worker2:8080"]')
        self.nodes = [Node(remote) for remote in remotes]
        self.load_balancer = check_balancer(load_balancer)
        self._lock = threading.Lock()
        self._next = 0  # round robin: the index of the node to try first

    @classmethod
    def at(cls, addresses: Sequence[str], token: str | None, load_balancer: str = "round_robin") -> Nodes:
        """Nodes from addresses as people write them (``worker1:8080``); a malformed one is a ValidationError naming it."""
        if isinstance(addresses, str):
            raise ValidationError(f"nodes={addresses!r}: a list of addresses is expected", hint=f'e.g. nodes=["{addresses}"]')
        urls = [node_url(str(address)) for address in addresses]
        duplicated = sorted({url for url in urls if urls.count(url) > 1})
        if duplicated:
            raise ValidationError(f"nodes: {', '.join(duplicated)} is listed twice", hint="list each `spl serve` once")
        return cls([Remote(url, token, label="node") for url in urls], load_balancer)

    @property
    def live(self) -> list[Node]:
        return [node for node in self.nodes if node.down is None]

    def check(self, shared_cache: str | None = None) -> None:
        """Probe every node before any input is sent: an unreachable one leaves the rotation (all of them: a ValidationError);
        a refused token or something other than `spl serve` is a ValidationError at once, and so is a node that does not
        use ``shared_cache`` when one is given."""
        for node in self.nodes:
            try:
                state = node.probe()
            except Unreachable as error:
                node.down = error.message
                continue
            if shared_cache is not None and not same_redis(state.get("redis"), shared_cache):
                theirs = state.get("redis") or "no Redis cache"
                raise ValidationError(
                    f"node {node.url} does not share the cache {_hidden(shared_cache)}: it uses {theirs}",
                    hint=f"start that `spl serve` with --redis-url {_hidden(shared_cache)} (or SPLEETER_REDIS_URL), or pass shared_cache=None",
                )
        if not self.live:
            reasons = "; ".join(node.down or "" for node in self.nodes)
            raise ValidationError(f"no node of the cluster can be reached: {reasons}", hint="start `spl serve` on the nodes, or fix nodes=")

    def pick(self) -> Node:
        """The node for the next input, by the balancer. The last live node is never taken out, so there always is one."""
        with self._lock:
            candidates = self.live or self.nodes
            if self.load_balancer == "least_loaded" and len(candidates) > 1:
                node = self._least_loaded(candidates)
            else:
                node = self._rotated(candidates)[0]
            self._next = (self.nodes.index(node) + 1) % len(self.nodes)
            node.pending += 1
            return node

    def placed(self, node: Node) -> None:
        """The node answered the upload (or failed it): from now on its own queue counts the job, or there is none."""
        with self._lock:
            node.pending = max(0, node.pending - 1)

    def failed(self, node: Node, error: SplError) -> bool:
        """``node`` failed an input: take it out if another node is live. True when the input should be retried elsewhere."""
        with self._lock:
            others = [other for other in self.live if other is not node]
            if not others:
                return False  # the last node: each input reports its own error, as on a single server
            node.down = error.message
            return True

    def can_fail_over(self, node: Node) -> bool:
        with self._lock:
            return any(other is not node for other in self.live)

    def _rotated(self, candidates: list[Node]) -> list[Node]:
        """``candidates`` starting from the round robin's position: equal nodes take turns."""
        order = self.nodes[self._next :] + self.nodes[: self._next]
        return [node for node in order if node in candidates]

    def _least_loaded(self, candidates: list[Node]) -> Node:
        """The node with the fewest jobs per worker now; ties go round robin. A node that does not answer leaves the rotation."""
        loads: list[tuple[float, int, Node]] = []
        for position, node in enumerate(self._rotated(candidates)):
            try:
                state = node.probe()
            except Unreachable as error:
                if len(self.live) > 1:
                    node.down = error.message
                continue
            except SplError:  # answers, but not as expected (a token changed meanwhile): the upload will say what
                state = {}
            loads.append((node.load(state), position, node))
        if not loads:
            return self._rotated(self.live or candidates)[0]
        return min(loads, key=lambda entry: entry[:2])[2]


def same_redis(reported: object, wanted: str) -> bool:
    """Whether the Redis a node reports (password hidden) is ``wanted``: same host, port and database; passwords are not compared."""
    if not isinstance(reported, str) or not reported:
        return False
    return _redis_identity(reported) == _redis_identity(wanted)


def _redis_identity(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError:
        port = -1
    database = parts.path.strip("/") or "0"
    return parts.scheme, (parts.hostname or "").lower(), port, database


def _hidden(url: str) -> str:
    """A Redis URL as messages show it: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":****@", 1)
