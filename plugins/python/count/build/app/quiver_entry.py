# Written by `quiver plugin build`.
from quiver_sdk import guest

guest.serve("count")
Transform = guest.Transform
