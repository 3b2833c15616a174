"""Gives every track document of a Firestore collection its index shard, once after upgrading.

Lists ordered by updated_at read only documents with a shard (adapters/firestore_store.py);
documents written before they carried one need it added. Safe to run again.

    python scripts/firestore_add_shards.py --project PROJECT [--database (default)] [--collection tracks]
"""

import argparse

from google.cloud import firestore

from trackscan.adapters.firestore_shards import add_missing_shards


def main() -> None:
    """Parses the options and adds the missing shards, printing how many."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--database", default="(default)")
    parser.add_argument("--collection", default="tracks")
    args = parser.parse_args()
    client = firestore.Client(project=args.project, database=args.database)
    print(f"{add_missing_shards(client, args.collection)} documents given their shard")


if __name__ == "__main__":
    main()
