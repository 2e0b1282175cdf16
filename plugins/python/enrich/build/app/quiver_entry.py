# Written by `quiver plugin build`.
from quiver_sdk import guest

guest.serve("enrich")
Transform = guest.Transform
