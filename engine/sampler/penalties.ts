/**
 * Repetition penalties over the last `repeat_last_n` tokens (prompt and
 * generated alike), applied to the raw logits before any truncation:
 *
 * - repeat_penalty r (CTRL, Keskar et al. 2019, as llama.cpp applies it): a
 *   seen token's logit is divided by r when positive and multiplied by r when
 *   not, so the penalty always lowers it;
 * - frequency_penalty f and presence_penalty q (OpenAI's definitions): the
 *   logit loses count × f + q.
 */
export interface PenaltyOptions {
  repeat_penalty: number;
  presence_penalty: number;
  frequency_penalty: number;
}

export function penaltiesActive(o: PenaltyOptions): boolean {
  return o.repeat_penalty !== 1 || o.presence_penalty !== 0 || o.frequency_penalty !== 0;
}

/** Applies the penalties in place for the tokens of `window`. */
export function applyPenalties(logits: Float32Array, window: ArrayLike<number>, o: PenaltyOptions): void {
  if (window.length === 0 || !penaltiesActive(o)) return;
  const counts = new Map<number, number>();
  for (let i = 0; i < window.length; i++) counts.set(window[i], (counts.get(window[i]) ?? 0) + 1);
  for (const [id, n] of counts) {
    if (id < 0 || id >= logits.length) continue;
    let l = logits[id];
    if (!(l > -Infinity)) continue; // masked stays masked
    l = l <= 0 ? l * o.repeat_penalty : l / o.repeat_penalty;
    logits[id] = l - n * o.frequency_penalty - o.presence_penalty;
  }
}
