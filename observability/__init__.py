"""What the server and the bridge both use to be observed: whether a process
traces and where its spans go (tracing), and the shape of its log lines
(logs).

Each process names itself and adds what only it knows (the server's turn
ids, the bridge's request scope); this package imports neither of them, only
the libraries, so that the bridge can use it and still import nothing of
the server's but the generated stubs.
"""
