"""``ray start ...`` that keeps a node on the loopback address it is given.

Ray's CLI replaces 127.0.0.1 in ``--node-ip-address`` with the machine's outward address
(so that other machines could join) unless multi-node clusters are switched off, and then
a second node cannot join at all. The tests want both: two nodes, nothing bound beyond
127.0.0.1. This wrapper keeps the address as given and runs Ray's own CLI otherwise
unchanged: ``python tests/ray_loopback.py start --head --node-ip-address 127.0.0.1 ...``.
"""

import sys

from ray._private import services

services.resolve_ip_for_localhost = lambda host: host  # 127.0.0.1 stays 127.0.0.1

from ray.scripts.scripts import main  # noqa: E402 (after the patch it depends on)

if __name__ == "__main__":
    sys.argv[0] = "ray"
    sys.exit(main())
