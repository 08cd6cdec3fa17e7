//! Small Hugging Face configs and file helpers for the checkpoint tests.

use std::path::{Path, PathBuf};

/// A small GPT-2 config: 2 layers of 64, 100 tokens.
pub const GPT2: &str = r#"{"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
    "n_positions": 32, "vocab_size": 100, "initializer_range": 0.02,
    "architectures": ["GPT2LMHeadModel"]}"#;

/// A small Llama config with grouped k/v heads and a padding token.
pub const LLAMA: &str = r#"{"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
    "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 32, "pad_token_id": 3,
    "architectures": ["LlamaForCausalLM"]}"#;

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Every file of `dir`, name and bytes, in name order.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}
