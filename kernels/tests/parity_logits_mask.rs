//! Logits mask: fast CPU paths (every ISA level this CPU has) equal the reference bit for bit
//! (the op only writes `-inf`, so the tolerance is exact), plus edge cases.

use dyno_kernels::logits_mask::{LogitsMaskArgs, cpu_apply, reference, words_per_row};
use dyno_kernels::testing::cases;
use dyno_kernels::{Backend, CpuBackend, Isa, KernelError, LogitsMaskOp};
use proptest::prelude::*;

fn isas() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= Isa::detect())
        .collect()
}

/// (num_rows, vocab, logits, mask rows selection, mask words)
fn case() -> impl Strategy<Value = (usize, usize, Vec<f32>, Option<Vec<u32>>, Vec<u32>)> {
    (1usize..6, 1usize..300, any::<bool>(), any::<u64>()).prop_flat_map(
        |(rows, vocab, subset, seed)| {
            let logits = proptest::collection::vec(-50f32..50.0, rows * vocab);
            let selection = if subset {
                Just(Some(seeded_subset(rows, seed))).boxed()
            } else {
                Just(None).boxed()
            };
            (Just(rows), Just(vocab), logits, selection).prop_flat_map(
                move |(rows, vocab, logits, sel)| {
                    let mask_rows = sel.as_ref().map_or(rows, Vec::len);
                    let words =
                        proptest::collection::vec(any::<u32>(), mask_rows * words_per_row(vocab));
                    (Just(rows), Just(vocab), Just(logits), Just(sel), words)
                },
            )
        },
    )
}

fn seeded_subset(rows: usize, seed: u64) -> Vec<u32> {
    // A deterministic non-empty subset in a scrambled order.
    let mut picked: Vec<u32> = (0..rows as u32)
        .filter(|r| (seed >> (r % 64)) & 1 == 1)
        .collect();
    if picked.is_empty() {
        picked.push((seed % rows as u64) as u32);
    }
    picked.reverse();
    picked
}

/// Ensures every mask row allows at least one in-vocabulary token (empty rows are an error case
/// tested separately).
fn allow_one(words: &mut [u32], vocab: usize) {
    let per_row = words_per_row(vocab);
    for row in words.chunks_mut(per_row) {
        row[0] |= 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    #[test]
    fn fast_matches_reference((rows, vocab, logits, sel, mut words) in case()) {
        allow_one(&mut words, vocab);
        let args = LogitsMaskArgs { num_rows: rows, vocab_size: vocab, rows: sel.as_deref() };
        let mut expected = logits.clone();
        reference::apply_logits_mask(&mut expected, &words, &args).unwrap();
        for isa in isas() {
            let mut got = logits.clone();
            cpu_apply(isa, &mut got, &words, &args).unwrap();
            prop_assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "isa {:?}", isa
            );
        }
    }
}

#[test]
fn rows_without_mask_are_untouched() {
    let cpu = CpuBackend::new();
    let vocab = 70; // not a multiple of 32
    let mut logits = cpu.upload(&vec![1.0f32; 3 * vocab]).unwrap();
    let mask = cpu.upload(&[0b10u32, 0, 0]).unwrap(); // allow token 1 only
    let args = LogitsMaskArgs {
        num_rows: 3,
        vocab_size: vocab,
        rows: Some(&[1]),
    };
    cpu.apply_logits_mask(&mut logits, &mask, &args).unwrap();
    assert!(logits[..vocab].iter().all(|&v| v == 1.0));
    assert!(logits[2 * vocab..].iter().all(|&v| v == 1.0));
    let row1 = &logits[vocab..2 * vocab];
    assert_eq!(row1[1], 1.0);
    assert_eq!(row1.iter().filter(|v| v.is_finite()).count(), 1);
}

#[test]
fn padding_bits_past_vocab_are_ignored() {
    let vocab = 33;
    let mut logits = vec![0.0f32; vocab];
    // Only padding bits (tokens 33..63) and token 32 set: token 32 is the only allowed one.
    let words = vec![0u32, u32::MAX];
    let args = LogitsMaskArgs {
        num_rows: 1,
        vocab_size: vocab,
        rows: None,
    };
    for isa in isas() {
        let mut l = logits.clone();
        cpu_apply(isa, &mut l, &words, &args).unwrap();
        assert_eq!(l[32], 0.0);
        assert!(l[..32].iter().all(|v| *v == f32::NEG_INFINITY));
    }
    // A row whose only set bits are padding allows nothing: an error, nothing written.
    let words = vec![0u32, !1u32];
    let err = cpu_apply(Isa::detect(), &mut logits, &words, &args).unwrap_err();
    assert!(
        matches!(err, KernelError::NothingAllowed { row: 0, .. }),
        "{err}"
    );
    assert!(
        logits.iter().all(|&v| v == 0.0),
        "an error must leave the logits untouched"
    );
}

#[test]
fn shape_and_index_errors_name_the_argument() {
    let args = LogitsMaskArgs {
        num_rows: 2,
        vocab_size: 40,
        rows: None,
    };
    let err = reference::apply_logits_mask(&mut [0.0; 79], &[u32::MAX; 4], &args).unwrap_err();
    assert!(err.to_string().contains("`logits`"), "{err}");
    let err = reference::apply_logits_mask(&mut [0.0; 80], &[u32::MAX; 3], &args).unwrap_err();
    assert!(err.to_string().contains("`mask`"), "{err}");
    let bad = LogitsMaskArgs {
        num_rows: 2,
        vocab_size: 40,
        rows: Some(&[2]),
    };
    let err = reference::apply_logits_mask(&mut [0.0; 80], &[u32::MAX; 2], &bad).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::IndexOutOfRange {
                value: 2,
                bound: 2,
                ..
            }
        ),
        "{err}"
    );
    let dup = LogitsMaskArgs {
        num_rows: 2,
        vocab_size: 40,
        rows: Some(&[1, 1]),
    };
    let err = cpu_apply(Isa::detect(), &mut [0.0; 80], &[u32::MAX; 4], &dup).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}
