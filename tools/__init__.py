"""Tools beside the running service: benchmarks (`anju bench`) and the broker's configuration generator
(`anju broker-config`). Nothing in the runtime packages imports them."""
