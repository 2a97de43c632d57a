"""Where results live: the content-addressed cache (objects, leases, gc) and tiled images."""
