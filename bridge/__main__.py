from bridge.server import main

main()
