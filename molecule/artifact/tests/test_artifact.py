"""The mirror-served release is on the host, verified; refused ones left no trace."""


def test_release_is_unpacked_and_runs(host):
    assert host.run("/opt/demo/demo-1.0.0/demo").stdout.strip() == "demo 1.0.0"


def test_unpacked_release_is_marked_with_its_checksum(host):
    markers = host.run("ls /opt/demo/.okx_hft-*").stdout.split()
    assert len(markers) == 1
    assert "demo 1.0.0 sha256:" in host.file(markers[0]).content_string


def test_refused_releases_left_nothing_behind(host):
    assert not host.file("/opt/demo-wrong/demo-1.0.0").exists
    assert not host.file("/opt/demo-missing").exists
