//! Generates the Tauri context (config, icon) the binary embeds.

fn main() {
    tauri_build::build();
}
