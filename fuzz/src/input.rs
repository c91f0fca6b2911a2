//! A cursor over the fuzzer's bytes that never fails: past the end it yields zeros, so every input
//! means something and libFuzzer's mutations stay meaningful.

/// Reads bytes, integers and fixed-size arrays from the front of the input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether all bytes have been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    /// The next two bytes as a big-endian `u16` (zeros past the end).
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// The next `N` bytes, zero-padded past the end.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let taken = self.take(N);
        out[..taken.len()].copy_from_slice(taken);
        out
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// XOR-patches `message` with `(position, mask)` pairs read from `input` until it runs out or
/// `max` patches were applied. Returns whether the message changed (patches may cancel out).
pub fn mutate(message: &mut [u8], input: &mut Input<'_>, max: usize) -> bool {
    let before = message.to_vec();
    for _ in 0..max {
        if input.is_empty() || message.is_empty() {
            break;
        }
        let position = usize::from(input.u16()) % message.len();
        message[position] ^= input.byte();
    }
    *message != before[..]
}

/// SplitMix64, seeded from the input, for schedules (read sizes, pauses) that need many values.
#[derive(Debug, Clone)]
pub struct Schedule(u64);

impl Schedule {
    /// A schedule from an 8-byte seed.
    pub fn new(seed: u64) -> Self {
        Schedule(seed)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `1..=max` biased towards small ones (half the time at most 8), so trickling
    /// input and whole-frame reads are both common.
    pub fn size(&mut self, max: usize) -> usize {
        let max = max.max(1) as u64;
        let r = self.next_u64();
        let limit = if r & 1 == 0 { max.min(8) } else { max };
        ((r >> 1) % limit + 1) as usize
    }
}
