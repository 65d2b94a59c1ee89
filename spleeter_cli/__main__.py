from spleeter_cli.cli.app import main

main()
