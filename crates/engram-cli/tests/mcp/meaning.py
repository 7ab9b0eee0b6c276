"""The official MCP Python SDK (`mcp`) driving `engram mcp` on a minilm store, started with the
arguments README tells an MCP client to use (`--db DB --model-dir DIR mcp`): an agent's
memories are embedded by the model, and a cue that shares no word with a memory finds it.
Run by tests/minilm.rs as: python3 meaning.py ENGRAM DB MODEL_DIR. Prints "ok" when every
check passed."""

import asyncio
import sys

from sdk import ClientSession, StdioServerParameters, check, stdio_client, structured


async def main(engram, db, model_dir):
    # No ENGRAM_MODEL_DIR in the environment: the argument alone must find the model.
    server = StdioServerParameters(
        command=engram, args=["--db", db, "--model-dir", model_dir, "mcp"], env={"ENGRAM_LOG": "warn"})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            texts = [
                "the dentist filled a cavity in my back tooth",
                "penguins huddle together on the Antarctic ice",
                "the quarterly budget meeting moved to Thursday",
            ]
            ids = [structured(await session.call_tool("remember", {"text": t}))["id"] for t in texts]
            check(ids == [1, 2, 3], f"ids {ids}")
            answer = structured(await session.call_tool("recall", {"text": "a bird that cannot fly and lives where it is freezing", "hops": 0}))
            first = answer["results"][0]
            # By meaning: hash-v1, which matches words, puts it first too here, by a similarity
            # of 0.008; the model by 0.34.
            check(first["id"] == 2 and first["similarity"] > 0.25, f"the penguin first: {answer['results']}")
            shown = structured(await session.call_tool("show", {"id": 2, "embedding": True}))
            check(len(shown["embedding"]) == 384, f"384 dimensions, got {len(shown['embedding'])}")
    print("ok")


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
