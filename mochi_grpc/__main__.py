"""`python -m mochi_grpc`: the mochi-grpc command (the server by default)."""

from mochi_grpc.cli import main

raise SystemExit(main())
