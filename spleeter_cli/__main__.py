from spleeter_cli.cli import main

main()
