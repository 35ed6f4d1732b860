#![no_main]
//! See `mcp_tether::fuzzing::urls` for what must hold for every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_tether::fuzzing::urls(data));
