//! `engram mcp` driven by a real MCP client: the official Python SDK (`mcp`, which scripts/test
//! installs), running `tests/mcp/client.py` (with `tests/mcp/sdk.py`), which lists the tools, calls each, and checks that
//! bad calls are MCP errors and the session goes on.

mod common;

use common::Sandbox;

#[test]
fn the_python_sdk_lists_and_calls_every_tool_and_bad_calls_are_errors() {
    let sandbox = Sandbox::new();
    sandbox.engram(&["init", "--dim", "64"]).assert().success();
    common::mcp_client(&sandbox, "client.py", &[]);
    // What the agent stored is in the store, for the command to read.
    let shown = sandbox
        .engram(&["show", "2", "--json"])
        .output()
        .expect("runs");
    let record: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(record["text"], "lion: a large tawny feline of Africa");
    let forgotten = sandbox.engram(&["show", "3"]).output().expect("runs");
    assert!(!forgotten.status.success());
}
