"""Values: one module per Redis data type, each a plain data structure with Redis's operations.

Rules (../DESIGN.md, "Wave 2"):
- No argument parsing, no replies, no keyspace, no I/O: `commands/<type>.py` parses, calls the
  value and builds replies; the keyspace stores values as opaque objects.
- Every collection keeps `nbytes`, the bytes it holds as CPython allocates them, up to date on
  each change, so the memory bound charges growth in the write that makes it (the command
  passes the difference to `Keyspace.charge`). Never computed by walking the collection.
- Every collection frees itself in slices (`free_slice`), so deleting, expiring, evicting or
  flushing a value of a million elements never stalls the loop (keyspace `lazy_values`).
- `copy()` returns a value that shares nothing mutable with the original (COPY).
"""

from tandemkv.values.hashes import HashValue
from tandemkv.values.lists import ListValue
from tandemkv.values.sizes import BYTES_SIZES, PYMALLOC_MAX, bytes_size, object_bytes
from tandemkv.values.streams import StreamValue

__all__ = ["BYTES_SIZES", "PYMALLOC_MAX", "HashValue", "ListValue", "StreamValue", "bytes_size", "object_bytes"]
