#!/usr/bin/env bash
# Two fixed-budget training runs side by side on one GPU machine (a lease of ~10 minutes):
# "scratch" trains the shipped architecture from random weights, "tune" continues the shipped
# checkpoint; each writes its best checkpoint (fp16) to OUT/<name>.pt. The data comes packed
# (benchmarks/README.md, "Phase 9", has the packing commands), so nothing is parsed or
# downloaded on the machine.
#
# Usage: training/gpu_recipe.sh DATA OUT [MINUTES] [WORKERS_PER_RUN]
set -u
data=$1 out=$2 minutes=${3:-6} workers=${4:-7}
mkdir -p "$out"
common=(
    --crohme-ink "$data/crohme_train.npz" --ink-repeat 3
    --hand "$data/hand" --hand-repeat 5
    --printed 30000 --printed-formulas "$data/train_caption.txt"
    --dictionary "$data/dictionary.txt"
    --val-ink "$data/crohme13.npz" --val-set "$data/printed_val"
    --batch-size 64 --augment-prob 0.5 --epochs 1000 --validate-every 4
    --schedule-minutes "$minutes" --workers "$workers" --threads 2
    --log-every 100 --save-every 1000000
)
run() {
    local name=$1
    shift
    # The limit stops a run that outlives the lease; the checkpoint shipped so far stays.
    timeout -s KILL "$(python3 -c "print(int($minutes * 60 + 150))")" \
        python3 -m training.train --out "/tmp/runs/$name" --ship "$out/$name.pt" \
        "${common[@]}" "$@" >"$out/$name.log" 2>&1
    echo "$name exited with $?" >>"$out/$name.log"
    cp "/tmp/runs/$name/curves.png" "$out/$name.png" 2>/dev/null
}
run scratch --lr 2e-3 --seed 11 &
run tune --init model_data/recognizer.pt --lr 5e-4 --seed 12 &
wait
grep -h "validation\|exited\|budget\|Error\|error" "$out"/*.log | cut -c1-400
