"""Suite import, ids, activation and public payloads, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from proctor.config import Settings
from proctor.core.suites import service as suite_service
from proctor.core.suites.documents import parse_suite_document, public_metadata
from proctor.errors import SuiteNotFound, ValidationFailed
from proctor.storage import migrate
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work
from tests.support.suites import oro_problems


class TestParse:
    def test_oro_list_gets_stable_uuid_ids(self) -> None:
        first, second = parse_suite_document(oro_problems(4)), parse_suite_document(oro_problems(4))
        assert first.format == "oro"
        assert [p.problem_id for p in first.problems] == [p.problem_id for p in second.problems]
        assert len({p.problem_id for p in first.problems}) == 4
        assert first.content_sha256 == second.content_sha256
        assert first.problems[0].category == "Product"

    def test_changing_a_problem_changes_only_its_id(self) -> None:
        base = oro_problems(3)
        changed = oro_problems(3)
        changed[1]["query"] = "something else"
        a, b = parse_suite_document(base), parse_suite_document(changed)
        assert a.problems[0].problem_id == b.problems[0].problem_id
        assert a.problems[1].problem_id != b.problems[1].problem_id

    def test_generic_form_keeps_uuid_and_maps_other_ids(self) -> None:
        given = str(uuid.uuid4())
        parsed = parse_suite_document(
            {
                "name": "mine",
                "problems": [
                    {"problem_id": given, "metadata": {"q": 1}},
                    {"problem_id": "p-2", "metadata": {"q": 2}},
                ],
            }
        )
        assert parsed.name == "mine"
        assert str(parsed.problems[0].problem_id) == given and parsed.problems[0].external_id is None
        assert parsed.problems[1].external_id == "p-2"
        assert (
            parsed.problems[1].problem_id
            == parse_suite_document({"problems": [{"problem_id": "p-2"}]}).problems[0].problem_id
        )

    @pytest.mark.parametrize(
        "document",
        [
            [],
            {"problems": []},
            "a string",
            [1, 2],
            [{}],
            {"problems": [{"metadata": {}}]},
            {"problems": [{"problem_id": "a", "metadata": []}]},
            {"problems": [{"problem_id": "a"}, {"problem_id": "a"}]},
            [{"query": "same"}, {"query": "same"}],
        ],
    )
    def test_bad_documents_are_refused(self, document: object) -> None:
        with pytest.raises(ValidationFailed):
            parse_suite_document(document)

    def test_public_metadata_hides_ground_truth(self) -> None:
        meta = oro_problems(3)[2]
        hidden = ["reward", "voucher", "reward_title_embeddings"]
        assert set(public_metadata(meta, hidden, include_embeddings=True)) == {
            "query",
            "category",
            "difficulty",
            "title",
        }
        made_public = ["reward", "voucher"]
        assert "reward_title_embeddings" in public_metadata(meta, made_public, include_embeddings=True)
        assert "reward_title_embeddings" not in public_metadata(meta, made_public, include_embeddings=False)


class TestService:
    async def test_import_activate_and_read(self, database_url: str) -> None:
        settings = Settings(database_url=database_url)
        await migrate.upgrade(settings)
        engine = create_engine(settings)
        maker = create_sessionmaker(engine)
        try:
            async with unit_of_work(maker) as s:
                with pytest.raises(SuiteNotFound):
                    await suite_service.current_suite(s)
                first = await suite_service.import_suite(s, document=oro_problems(5), activate=True)
                again = await suite_service.import_suite(s, document=oro_problems(5))
                second = await suite_service.import_suite(s, document=oro_problems(7), name="bigger")
            assert first.created and not again.created and again.suite.id == first.suite.id
            assert (first.suite.version, second.suite.version) == (1, 2)
            async with unit_of_work(maker) as s:
                assert (await suite_service.current_suite(s)).id == first.suite.id
                await suite_service.activate_suite(s, suite_id=second.suite.id)
            async with unit_of_work(maker) as s:
                suites = await suite_service.list_suites(s)
                assert [x.version for x in suites] == [2, 1]
                assert [x.is_active for x in suites] == [True, False]
                problems = await suite_service.list_problems(s, suite_id=second.suite.id)
                assert len(problems) == 7 and [p.position for p in problems] == list(range(7))
                with pytest.raises(SuiteNotFound):
                    await suite_service.activate_suite(s, suite_id=999)
        finally:
            await engine.dispose()

    async def test_failed_import_writes_nothing(self, database_url: str) -> None:
        settings = Settings(database_url=database_url)
        await migrate.upgrade(settings)
        engine = create_engine(settings)
        maker = create_sessionmaker(engine)
        try:
            with pytest.raises(ValidationFailed):
                async with unit_of_work(maker) as s:
                    await suite_service.import_suite(s, document=oro_problems(3), version=0)
            async with unit_of_work(maker) as s:
                assert list(await suite_service.list_suites(s)) == []
        finally:
            await engine.dispose()
