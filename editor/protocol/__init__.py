"""Wire protocol v1: Chorus messages over RSocket (the only importer of rsocket)."""
