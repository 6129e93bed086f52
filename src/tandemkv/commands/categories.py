"""ACL categories of the command table: which categories a spec belongs to (COMMAND INFO,
ACL CAT, ACL SETUSER +@category), derived as Redis's setImplicitACLCategories does."""

from __future__ import annotations

from tandemkv.commands.table import CommandSpec

# ACL categories in Redis's bit order, which is the order COMMAND prints them in.
ACL_CATEGORIES = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
    "connection", "transaction", "scripting",
)

# The category a command's group implies when its spec names none (Redis's JSON files).
_GROUP_CATEGORY = {
    "generic": "keyspace", "string": "string", "list": "list", "hash": "hash", "set": "set",
    "sorted_set": "sortedset", "stream": "stream", "bitmap": "bitmap",
    "hyperloglog": "hyperloglog", "geo": "geo", "pubsub": "pubsub", "connection": "connection",
    "transactions": "transaction", "scripting": "scripting",
}


def acl_categories(spec: CommandSpec) -> list[str]:
    """The spec's ACL categories without '@', in Redis's order."""
    if spec.acl is not None:
        chosen = set(spec.acl)
    else:
        group_category = _GROUP_CATEGORY.get(spec.group)
        chosen = {group_category} if group_category else set()
    flags = spec.flags
    if "write" in flags:
        chosen.add("write")
    if "readonly" in flags and "scripting" not in chosen:
        chosen.add("read")
    if "admin" in flags:
        chosen.update(("admin", "dangerous"))
    if "pubsub" in flags:
        chosen.add("pubsub")
    if "fast" in flags:
        chosen.add("fast")
    if "blocking" in flags:
        chosen.add("blocking")
    if "fast" not in chosen:
        chosen.add("slow")
    return [name for name in ACL_CATEGORIES if name in chosen]
