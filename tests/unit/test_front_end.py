import librosa
import numpy as np
import pytest

from tests.audio_fixtures import music_like, tone
from trackscan.audio.front_end import N_MELS, PATCH_FRAMES, log_mel, patches_from_audio, to_model_rate, to_patches
from trackscan.audio.spectrum import power_spectrogram


def test_to_model_rate_downmixes_and_resamples_to_16khz():
    stereo = np.stack([tone(440, 2.0), tone(440, 2.0)])
    mono = to_model_rate(stereo, 44_100)
    assert mono.shape == (32_000,)
    assert mono.dtype == np.float32


def test_log_mel_stays_finite_in_float32_when_music_is_loud():
    # float16 overflows above 65504: a full-scale tone's mel power times 10000 goes beyond that.
    loud = to_model_rate(tone(1000, 3.0, amplitude=1.0)[None, :], 44_100)
    frames = log_mel(loud)
    assert frames.dtype == np.float32
    assert np.isfinite(frames).all()
    assert frames.max() > np.log10(65504.0)


def test_to_patches_drops_the_tail_when_frames_are_not_a_multiple_of_187():
    patches = to_patches(np.ones((PATCH_FRAMES * 2 + 50, N_MELS), np.float32))
    assert patches.shape == (2, PATCH_FRAMES, N_MELS)


def test_to_patches_pads_one_patch_when_audio_is_shorter_than_3s():
    patches = patches_from_audio(tone(440, 1.0, 16_000))
    assert patches.shape == (1, PATCH_FRAMES, N_MELS)
    assert patches[0, -1].max() == pytest.approx(0.0)


def test_patches_from_audio_gives_ten_patches_when_audio_is_30s():
    assert patches_from_audio(np.zeros(16_000 * 30, np.float32)).shape[0] == 10


@pytest.mark.parametrize(("n_fft", "hop"), [(512, 256), (1024, 160), (4096, 2048)])
def test_power_spectrogram_matches_librosa_stft_when_framed_as_each_feature_frames_it(n_fft, hop):
    mono = to_model_rate(music_like(5.0)[None, :], 44_100)
    expected = np.abs(librosa.stft(mono, n_fft=n_fft, hop_length=hop)) ** 2
    power = power_spectrogram(mono, n_fft, hop)
    assert power.shape == expected.T.shape
    np.testing.assert_allclose(power, expected.T, rtol=0, atol=1e-5 * float(expected.max()))
