"""Container-engine access behind one interface (api.Engine): reads, writes, prefetching."""
