from tests.conftest import Mock


def test_import_link_completes_on_the_manual_clock(mock: Mock) -> None:
    h = mock.headers("neuralanalog")
    created = mock.client.post("/neuralanalog/from-link", headers=h, json={"url": "https://x/a.mp3"})
    assert created.status_code == 200
    audio_id = created.json()["audio_id"]
    assert mock.client.get(f"/neuralanalog/status/audio/{audio_id}", headers=h).json()["status"] == "in_progress"
    mock.advance(60)
    assert mock.client.get(f"/neuralanalog/status/audio/{audio_id}", headers=h).json()["is_complete"]
