"""Audio: decoding, the musicnn front end and the DSP descriptors. No I/O beyond a reader."""
