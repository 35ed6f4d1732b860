//! The host's side: stdin and stdout, the ledger of the host's requests in
//! flight, and what the host may see. Knows nothing of HTTP; the server's
//! side reaches the host only through [`downstream::Downstream`].

pub mod downstream;
pub mod filter;
pub mod stdio;
