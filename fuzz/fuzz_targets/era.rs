#![no_main]
//! See `mcp_tether::fuzzing::era` for what must hold for every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_tether::fuzzing::era(data));
