from vpclab.cli.main import main

main()
