//! Where credentials live on disk, and how several bridge processes share
//! them safely.
//!
//! - [`file`]: atomic writes of owner-only files in an owner-only directory
//!   (H4): a crash, even `kill -9` mid-write, leaves the old file or the new
//!   one, never a torn one.
//! - [`lock`]: a cross-process lock, so that of several bridges started at
//!   once for one server only one logs in or refreshes (G17, G21). It is an
//!   OS file lock: it dies with its process, so a crash cannot leave a stale
//!   lock behind that blocks everyone forever (mcp-remote #235, #251, #306).
//!
//! - [`keychain`]: the OS credential store, where secrets go when it is
//!   available (`--credential-store`).
//! - [`credentials`]: one server's records (its client registration,
//!   tokens, DPoP key, and which server they are for), in the store or the
//!   files. It keeps whatever serializable records `auth` gives it
//!   (generic over their type), so it imports nothing of OAuth and knows
//!   nothing of HTTP.

pub mod credentials;
pub mod file;
pub mod keychain;
pub mod lock;
