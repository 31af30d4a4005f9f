#!/usr/bin/env bash
# Train the aerial-landcover recipe steps side by side on one GPU (used on an
# H200 lent for 15 minutes, twice; see models/aerial-landcover/README.md, "Recipe steps").
# ROUND=1 (the default) is the first lease's five short steps, s1-s5; ROUND=2 the second
# lease's three long ones, s6-s8, which leave --strong-colour off (its hue rotation, blur and
# wide jitter cost vegetation most in round 1; off, every colour range is the mild default) and
# give the augmented recipes a bigger batch.
# Each step is one run of train_aerial_landcover.py with the same seed and time
# budget; the runs start together so that each measures its speed under the same
# load and turns the budget into an iteration count (logged as --iters N, which
# reproduces it). Weights and the training record land in OUT/<step>.pt; export
# and the CPU evaluation happen afterwards with --from-state.
#   usage: gpu_recipe_steps.sh DATA OUT BUDGET_SECONDS [EXTRA_ARGS]
# EXTRA_ARGS go last on every run (a local dry run: "--crop 64 --batch 2 --train-limit 2 --device cpu").
set -uo pipefail
DATA=$1 OUT=$2 BUDGET=$3 EXTRA=${4:-}
TRAIN="$(dirname "$0")/train_aerial_landcover.py"
RUN=/tmp/recipe-steps
rm -rf "$RUN"; mkdir -p "$RUN" "$OUT"
export PYTHONUNBUFFERED=1

# A few iterations of the fullest recipe first: a broken step should fail here, in seconds
# (SMOKE=0 skips it, after a local dry run: it costs half a minute of a 15-minute lease).
if [ "${SMOKE:-1}" != 0 ]; then
"${PY:-python3}" "$TRAIN" --data "$DATA" $EXTRA --out "$RUN/smoke" --train-limit 2 --val-limit 1 --iters 30 --crop 96 \
  --batch 4 --validations 1 --amp --any-angle --strong-colour --loss focal_lovasz --ema 0.99 \
  --widths 24,48,96,192,320 --no-export --skip-final-tiled --save-state "$RUN/smoke.pt" > "$RUN/smoke.log" 2>&1 \
  || { tail -40 "$RUN/smoke.log"; exit 1; }
echo "smoke ok"
fi

basic=(--crop 256 --batch 16)
wide=(--widths 24,48,96,192,320)
declare -A steps
if [ "${ROUND:-1}" = 2 ]; then
  aug=(--crop 384 --batch 32 --any-angle --scale-min 0.5 --scale-max 2.0 --ema 0.999)
  steps=(
    [s6_long]="${basic[*]}"
    [s7_long_aug_wide]="${aug[*]} ${wide[*]}"
    [s8_long_aug_wide_loss]="${aug[*]} ${wide[*]} --loss focal_lovasz"
  )
  threads=5
else
  aug=(--crop 384 --batch 16 --any-angle --strong-colour --scale-min 0.5 --scale-max 2.0 --ema 0.999)
  steps=(
    [s1_longer]="${basic[*]}"
    [s2_aug]="${aug[*]}"
    [s3_aug_loss]="${aug[*]} --loss focal_lovasz"
    [s4_aug_wide]="${aug[*]} ${wide[*]}"
    [s5_all]="${aug[*]} --loss focal_lovasz ${wide[*]}"
  )
  threads=3
fi
common=(--data "$DATA" --amp --threads "$threads" --time-budget "$BUDGET" --validations 12 --no-export
        --start-together "$RUN/barrier:${#steps[@]}")
for s in "${!steps[@]}"; do
  # shellcheck disable=SC2086
  "${PY:-python3}" "$TRAIN" "${common[@]}" ${steps[$s]} $EXTRA --out "$RUN/$s" --save-state "$OUT/$s.pt" \
    --log "$RUN/$s.log" > "$RUN/$s.stdout" 2>&1 &
done
wait
for s in "${!steps[@]}"; do echo "== $s"; grep -E "time budget|best at|whole-image|tiled|Error|error" "$RUN/$s.log" "$RUN/$s.stdout" | tail -8; done
tar czf "$OUT/records.tar.gz" -C "$RUN" --exclude='*.pt' .
