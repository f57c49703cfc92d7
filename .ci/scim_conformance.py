"""Runs PyPI scim2-tester's check_server against a live Rota SCIM endpoint.

Usage: python scim_conformance.py BASE_URL SCIM_TOKEN
Prints every check, then 'N passed, N failed'; exits 1 if any check is ERROR, CRITICAL or
DEVIATION (what Entra-facing conformance must not show).
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL, Status.DEVIATION}


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client, resource_types=["User", "Group"])
    failed = [r for r in results if r.status in FAILING]
    for r in results:
        where = f" [{r.resource_type}]" if r.resource_type else ""
        line = f"{r.status.name:<10} {r.title}{where}"
        if r.status in FAILING:
            line += f": {r.reason}"
        print(line)
    print(f"scim2-tester: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
