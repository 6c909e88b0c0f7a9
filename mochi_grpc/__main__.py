from mochi_grpc.server import main

main()
