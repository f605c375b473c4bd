"""Real data sets: fetched with the libraries made for them (the `kaggle` API), unpacked into the
layout `data.path` expects, and verified before they look complete."""
