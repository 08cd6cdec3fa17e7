//! A Hugging Face `config.json` resolved to a spec, with transformers' own init rules
//! (`PreTrainedModel._init_weights` and each model's override, as of transformers 5.24):
//! GPT-2 (`model_type: gpt2`) and Llama (`model_type: llama`). Tensor names, shapes and
//! order are those of the published checkpoints and of `state_dict()`.

use serde_json::{Map, Value};

use super::spec::{check_count, Dtype, ModelSpec, TensorSpec};
use crate::error::{Error, Result};

/// The spec `config` describes.
pub fn spec_from_config(config: &Value, dtype: Dtype) -> Result<ModelSpec> {
    let c = Config(
        config
            .as_object()
            .ok_or_else(|| Error::invalid("config.json is not a JSON object"))?,
    );
    let model_type = c.string("model_type")?;
    let tensors = match model_type.as_str() {
        "gpt2" => gpt2(&c)?,
        "llama" => llama(&c)?,
        other => {
            return Err(Error::invalid(format!(
            "model_type '{other}' is not one gpuinit knows (gpt2, llama); describe it with --spec"
        )))
        }
    };
    Ok(ModelSpec {
        source: Some(format!("{model_type} config, transformers 5.24 init rules")),
        dtype,
        tensors,
    })
}

/// A config's fields, each read with the error a user can act on.
struct Config<'a>(&'a Map<String, Value>);

impl Config<'_> {
    fn string(&self, key: &str) -> Result<String> {
        match self.0.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(Error::invalid(format!(
                "config field '{key}' is {v}, not a string"
            ))),
            None => Err(Error::invalid(format!("config.json has no '{key}'"))),
        }
    }

    /// A positive integer field; `default` where the config class has one (None: required).
    fn count(&self, key: &str, default: Option<u64>) -> Result<u64> {
        match self.0.get(key) {
            None | Some(Value::Null) => {
                default.ok_or_else(|| Error::invalid(format!("config.json has no '{key}'")))
            }
            Some(v) => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                Error::invalid(format!(
                    "config field '{key}' is {v}, not a positive integer"
                ))
            }),
        }
    }

    /// Refuses `n` (field `key`) not a multiple of `d` (field `by`), as transformers does.
    fn divides(&self, key: &str, n: u64, by: &str, d: u64) -> Result<()> {
        if !n.is_multiple_of(d) {
            return Err(Error::invalid(format!(
                "config field '{key}' is {n}, not a multiple of '{by}' ({d}); transformers refuses it"
            )));
        }
        Ok(())
    }

    fn number(&self, key: &str, default: f64) -> Result<f64> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "config field '{key}' is {v}, not a positive number"
                    ))
                }),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::invalid(format!(
                "config field '{key}' is {v}, not true or false"
            ))),
        }
    }
}

/// Refuses a model of `layers` layers of `per_layer` tensors and `other` more past
/// [`super::MAX_TENSORS`], before any tensor is made.
fn tensor_count(layers: u64, per_layer: u64, other: u64) -> Result<()> {
    let count = layers
        .checked_mul(per_layer)
        .and_then(|n| n.checked_add(other))
        .unwrap_or(u64::MAX);
    check_count(count, &format!("the config ({layers} layers)"))
}

/// The product of `factors`, a dimension derived from the config field `key`; refused when
/// it passes 2^64.
fn product(key: &str, factors: &[u64]) -> Result<u64> {
    factors
        .iter()
        .try_fold(1u64, |p, &f| p.checked_mul(f))
        .ok_or_else(|| {
            Error::invalid(format!(
                "config field '{key}' is too large: a dimension derived from it passes 2^64"
            ))
        })
}

fn tensor(name: String, shape: &[u64], scheme: String) -> TensorSpec {
    TensorSpec {
        name,
        shape: shape.to_vec(),
        scheme,
        layout: None,
        dtype: None,
        zero_rows: Vec::new(),
    }
}

fn normal(std: f64) -> String {
    format!("normal:std={std:?}")
}

/// GPT-2: normal(0, initializer_range) for Conv1D weights (stored [in, out]) and both
/// embeddings; every `c_proj.weight` re-drawn with std initializer_range / sqrt(2 n_layer)
/// (GPT2PreTrainedModel._init_weights); LayerNorm weights 1, biases 0. The names are the
/// published checkpoints' (no `transformer.` prefix); a tied `lm_head` is not written.
fn gpt2(c: &Config) -> Result<Vec<TensorSpec>> {
    let embd = c.count("n_embd", None)?;
    let layers = c.count("n_layer", None)?;
    let vocab = c.count("vocab_size", None)?;
    let positions = c.count("n_positions", None)?;
    // GPT2Config's default; GPT2Attention needs n_embd divisible by it.
    let heads = c.count("n_head", Some(12))?;
    c.divides("n_embd", embd, "n_head", heads)?;
    let inner = c.count("n_inner", Some(product("n_embd", &[4, embd])?))?;
    product("n_embd", &[3, embd])?;
    let tied = c.flag("tie_word_embeddings", true)?;
    // The tensors are counted before any is made: 12 a layer, 4 around them, the head.
    tensor_count(layers, 12, 4 + u64::from(!tied))?;
    let std = c.number("initializer_range", 0.02)?;
    let proj_std = std / (2.0 * layers as f64).sqrt();
    let mut t = vec![
        tensor("wte.weight".into(), &[vocab, embd], normal(std)),
        tensor("wpe.weight".into(), &[positions, embd], normal(std)),
    ];
    for l in 0..layers {
        let p = |s: &str| format!("h.{l}.{s}");
        t.extend([
            tensor(p("ln_1.weight"), &[embd], "ones".into()),
            tensor(p("ln_1.bias"), &[embd], "zeros".into()),
            tensor(p("attn.c_attn.weight"), &[embd, 3 * embd], normal(std)),
            tensor(p("attn.c_attn.bias"), &[3 * embd], "zeros".into()),
            tensor(p("attn.c_proj.weight"), &[embd, embd], normal(proj_std)),
            tensor(p("attn.c_proj.bias"), &[embd], "zeros".into()),
            tensor(p("ln_2.weight"), &[embd], "ones".into()),
            tensor(p("ln_2.bias"), &[embd], "zeros".into()),
            tensor(p("mlp.c_fc.weight"), &[embd, inner], normal(std)),
            tensor(p("mlp.c_fc.bias"), &[inner], "zeros".into()),
            tensor(p("mlp.c_proj.weight"), &[inner, embd], normal(proj_std)),
            tensor(p("mlp.c_proj.bias"), &[embd], "zeros".into()),
        ]);
    }
    t.push(tensor("ln_f.weight".into(), &[embd], "ones".into()));
    t.push(tensor("ln_f.bias".into(), &[embd], "zeros".into()));
    if !tied {
        t.push(tensor("lm_head.weight".into(), &[vocab, embd], normal(std)));
    }
    Ok(t)
}

/// The embedding row `pad_token_id` names, as nn.Embedding's padding_idx takes it: a
/// negative one counts from the end (-1 is the last row); one outside [-vocab_size,
/// vocab_size) torch refuses.
fn padding_row(c: &Config, vocab: u64) -> Result<Option<u64>> {
    let v = match c.0.get("pad_token_id") {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let row = v.as_i64().and_then(|p| match p {
        0.. => u64::try_from(p).ok().filter(|&r| r < vocab),
        _ => vocab.checked_sub(p.unsigned_abs()),
    });
    row.map(Some).ok_or_else(|| {
        Error::invalid(format!(
            "config field 'pad_token_id' is {v}, not a token id in [-{vocab}, {vocab})"
        ))
    })
}

/// Llama: normal(0, initializer_range) for every Linear and the embedding (its
/// `pad_token_id` row zero, counted from the end when negative, as torch counts it), Linear biases (attention_bias, mlp_bias) 0, RMSNorm weights 1;
/// k and v projections sized by num_key_value_heads; `lm_head` unless tie_word_embeddings.
fn llama(c: &Config) -> Result<Vec<TensorSpec>> {
    let hidden = c.count("hidden_size", None)?;
    let inter = c.count("intermediate_size", None)?;
    let layers = c.count("num_hidden_layers", None)?;
    let heads = c.count("num_attention_heads", None)?;
    let vocab = c.count("vocab_size", None)?;
    let kv_heads = c.count("num_key_value_heads", Some(heads))?;
    // LlamaConfig.validate_architecture; and the attention repeats each k/v head
    // num_attention_heads / num_key_value_heads times.
    c.divides("hidden_size", hidden, "num_attention_heads", heads)?;
    c.divides(
        "num_attention_heads",
        heads,
        "num_key_value_heads",
        kv_heads,
    )?;
    let head_dim = c.count("head_dim", Some(hidden / heads))?;
    let std = c.number("initializer_range", 0.02)?;
    let attention_bias = c.flag("attention_bias", false)?;
    let mlp_bias = c.flag("mlp_bias", false)?;
    let tied = c.flag("tie_word_embeddings", false)?;
    let per_layer = 9 + 4 * u64::from(attention_bias) + 3 * u64::from(mlp_bias);
    tensor_count(layers, per_layer, 2 + u64::from(!tied))?;
    let (q, kv) = (
        product("num_attention_heads", &[heads, head_dim])?,
        product("num_key_value_heads", &[kv_heads, head_dim])?,
    );
    let mut embed = tensor(
        "model.embed_tokens.weight".into(),
        &[vocab, hidden],
        normal(std),
    );
    embed.zero_rows.extend(padding_row(c, vocab)?);
    let mut t = vec![embed];
    for l in 0..layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        let linears = [
            ("self_attn.q_proj", q, hidden, attention_bias),
            ("self_attn.k_proj", kv, hidden, attention_bias),
            ("self_attn.v_proj", kv, hidden, attention_bias),
            ("self_attn.o_proj", hidden, q, attention_bias),
            ("mlp.gate_proj", inter, hidden, mlp_bias),
            ("mlp.up_proj", inter, hidden, mlp_bias),
            ("mlp.down_proj", hidden, inter, mlp_bias),
        ];
        for (name, out, inp, bias) in linears {
            t.push(tensor(
                p(&format!("{name}.weight")),
                &[out, inp],
                normal(std),
            ));
            if bias {
                t.push(tensor(p(&format!("{name}.bias")), &[out], "zeros".into()));
            }
        }
        t.push(tensor(
            p("input_layernorm.weight"),
            &[hidden],
            "ones".into(),
        ));
        t.push(tensor(
            p("post_attention_layernorm.weight"),
            &[hidden],
            "ones".into(),
        ));
    }
    t.push(tensor("model.norm.weight".into(), &[hidden], "ones".into()));
    if !tied {
        t.push(tensor(
            "lm_head.weight".into(),
            &[vocab, hidden],
            normal(std),
        ));
    }
    Ok(t)
}
