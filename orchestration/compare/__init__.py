"""`ganime compare`: the paper's table, every method under one protocol."""
