from vpclab.cli import main

main()
