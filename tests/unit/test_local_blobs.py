from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.domain.file_uris import uri_of


def test_write_if_absent_keeps_the_first_value_when_written_twice(tmp_path):
    blobs, uri = FolderBlobStore(), uri_of(tmp_path / "t1" / "features" / "00000.npz")
    assert blobs.write_if_absent(uri, b"first") is True
    assert blobs.write_if_absent(uri, b"second") is False
    with blobs.open_read(uri) as reader:
        assert reader.read() == b"first"


def test_list_uris_ignores_temporary_files_when_a_write_is_in_flight(tmp_path):
    blobs = FolderBlobStore()
    blobs.write_if_absent(uri_of(tmp_path / "t1" / "a"), b"x")
    (tmp_path / "t1" / ".tmp-123").write_bytes(b"partial")
    assert blobs.list_uris(uri_of(tmp_path / "t1") + "/") == [uri_of(tmp_path / "t1" / "a")]


def test_delete_prefix_removes_every_blob_of_a_track_when_called(tmp_path):
    blobs = FolderBlobStore()
    for name in ("features/00000.npz", "predictions/00000.npz"):
        blobs.write_if_absent(uri_of(tmp_path / "t1" / name), b"x")
    assert blobs.delete_prefix(uri_of(tmp_path / "t1") + "/") == 2
    assert blobs.delete_prefix(uri_of(tmp_path / "t1") + "/") == 0


def test_delete_removes_the_named_blobs_and_their_emptied_folders_when_called(tmp_path):
    blobs = FolderBlobStore()
    uris = [uri_of(tmp_path / "t1" / name) for name in ("features/00000.npz", "predictions/00000.npz")]
    kept = uri_of(tmp_path / "t2" / "features" / "00000.npz")
    for uri in [*uris, kept]:
        blobs.write_if_absent(uri, b"x")
    blobs.delete([*uris, uri_of(tmp_path / "t1" / "features" / "00001.npz")])  # one never written
    assert not (tmp_path / "t1").exists()
    assert blobs.list_uris(uri_of(tmp_path) + "/") == [kept]


def test_uri_of_round_trips_when_the_path_has_spaces(tmp_path):
    from trackscan.domain.file_uris import path_of

    path = tmp_path / "My Music" / "a b#1.mp3"
    assert path_of(uri_of(path)) == path
