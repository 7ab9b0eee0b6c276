"""A real MCP client (the official Python SDK, `mcp`) driving `engram mcp`: it lists the
tools, calls each, and checks that bad calls are MCP errors and the session goes on.
Run by tests/mcp.rs as: python3 client.py ENGRAM DB. Prints "ok" when every check passed."""

import asyncio
import sys

from sdk import ClientSession, MCPError, StdioServerParameters, check, stdio_client, structured


async def main(engram, db):
    server = StdioServerParameters(command=engram, args=["--db", db, "mcp"], env={"ENGRAM_LOG": "warn"})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.server_info.name == "engram", f"server name {init.server_info.name}")
            check(init.instructions and "recall" in init.instructions, "instructions")

            tools = {t.name: t for t in (await session.list_tools()).tools}
            check(sorted(tools) == ["associate", "forget", "recall", "remember", "show"], f"tools {sorted(tools)}")
            for name, tool in tools.items():
                check(tool.description, f"{name} has no description")
                check(tool.input_schema.get("type") == "object", f"{name}'s schema: {tool.input_schema}")
            check("text" in tools["recall"].input_schema["properties"], "recall takes text")
            check("links" in tools["remember"].input_schema["properties"], "remember takes links")

            cat = structured(await session.call_tool("remember", {"text": "cat: a small domesticated feline"}))["id"]
            lion = structured(await session.call_tool(
                "remember", {"text": "lion: a large tawny feline of Africa", "strength": 0.9, "time": "2026-11-01T00:00:00Z"}))["id"]
            tea = structured(await session.call_tool(
                "remember", {"text": "tea: a hot drink", "links": [{"to": cat, "weight": 0.1}]}))["id"]
            check((cat, lion, tea) == (1, 2, 3), f"ids {(cat, lion, tea)}")

            linked = structured(await session.call_tool("associate", {"from": cat, "to": lion, "weight": 0.8}))
            check(linked == {"from": 1, "to": 2, "weight": 0.800000011920929, "both": False}, f"associate {linked}")

            recalled = await session.call_tool("recall", {"text": "a small cat", "limit": 5, "k": 1})
            answer = structured(recalled)
            ids = [r["id"] for r in answer["results"]]
            check(ids[:2] == [cat, lion], f"recall order {ids}")
            check(answer["results"][1]["seed"] is False, "lion comes through the association")
            table = recalled.content[0].text
            check("rank" in table and "lion: a large tawny feline" in table and "spread" in table, f"table {table!r}")

            shown = structured(await session.call_tool("show", {"id": cat}))
            check(shown["text"] == "cat: a small domesticated feline", f"show {shown}")
            check(shown["links"] == [{"to": 2, "weight": 0.800000011920929}], f"links {shown['links']}")
            check("embedding" not in shown, "no embedding unless asked")
            check(len(structured(await session.call_tool("show", {"id": cat, "embedding": True}))["embedding"]) == 64, "embedding")

            check(structured(await session.call_tool("forget", {"id": tea})) == {"forgotten": [3]}, "forget")

            # Calls the store refuses: tool errors with the server's error object.
            for name, args, code in [
                ("show", {"id": 3}, "unknown_memory"),
                ("forget", {"id": 99}, "unknown_memory"),
                ("associate", {"from": 1, "to": 1}, "invalid_request"),
                ("associate", {"from": 1, "to": 2, "weight": 5}, "invalid_request"),
                ("remember", {"embedding": [1, 2]}, "invalid_request"),
                ("remember", {"text": "x", "links": [{"to": 42}]}, "invalid_request"),
                ("recall", {}, "invalid_request"),
                ("recall", {"text": "cat", "k": 0}, "invalid_request"),
                ("recall", {"text": "cat", "half_life": "soon"}, "invalid_request"),
            ]:
                result = await session.call_tool(name, args)
                check(result.is_error, f"{name} {args} should fail: {result}")
                check(result.structured_content["error"]["code"] == code, f"{name} {args}: {result.structured_content}")

            # Arguments that do not fit the schema, and unknown tools: MCP errors, not a crash.
            for name, args in [("show", {"id": "one"}), ("show", {}), ("recall", {"colour": "red"}), ("nonexistent", {})]:
                try:
                    result = await session.call_tool(name, args)
                except MCPError:
                    continue
                check(result.is_error, f"{name} {args} should be an error: {result}")

            # The session goes on after all of that.
            check(structured(await session.call_tool("show", {"id": lion}))["id"] == 2, "still serving")
    print("ok")


asyncio.run(main(sys.argv[1], sys.argv[2]))
