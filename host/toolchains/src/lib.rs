//! Quiver's guest toolchains: `quiver plugin new`, `build` and `test` for
//! plugin projects in Rust, Python, JavaScript, C and Go. Each language
//! drives its own pinned tools (`sdk/toolchains.env`) and carries its SDK and
//! the contract inside the binary, so a plugin builds without the repository.

mod c;
mod go;
mod js;
mod project;
mod python;
mod rust;
mod toolchain;

pub use project::{Lang, build, create, test};
pub use rust::build as build_rust;
