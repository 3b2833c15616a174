from trackscan.cli.main import main

main()
