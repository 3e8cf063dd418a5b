"""Finding peers on the LAN over mDNS/DNS-SD (the only importer of zeroconf)."""
