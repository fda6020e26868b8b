"""How the user-documents tuning sets' question files are written (`dev/make_questions.py`,
`dev2/make_questions.py`): questions collected in order, then one JSON object a line in the
schema of `eval/questions/*.jsonl`, with `answer_start` (the raw-file offset of `answers[0]`
inside its evidence) for the .md and .txt files."""

import json
from pathlib import Path


class QuestionFile:
    """The questions of one set, about the documents in `folder`/docs (`kinds`: doc_id -> suffix)."""

    def __init__(self, folder: Path, id_prefix: str, kinds: dict[str, str]) -> None:
        self.folder, self.id_prefix, self.kinds = folder, id_prefix, kinds
        self.questions: list[dict] = []

    def q(self, doc, typ, question, answers=(), evidence=None, history=(), standalone=None) -> None:
        """One question; `typ` "unanswerable" takes no answers or evidence."""
        start = None
        if answers and self.kinds[doc] in (".md", ".txt"):
            raw = (self.folder / "docs" / (doc + self.kinds[doc])).read_text(encoding="utf-8")
            at = raw.find(evidence)
            assert at >= 0, (question, evidence)
            start = raw.find(answers[0], at)
        record = {"id": f"{self.id_prefix}-{len(self.questions) + 1:03d}", "question": question,
                  "history": list(history), "answers": list(answers), "doc_id": doc, "answer_start": start,
                  "evidence": evidence, "type": typ, "unanswerable": typ == "unanswerable"}
        if standalone:
            record["standalone"] = standalone
        self.questions.append(record)

    def write(self) -> None:
        """`questions.jsonl` beside the documents' folder."""
        lines = [json.dumps(record, ensure_ascii=False) for record in self.questions]
        (self.folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(len(lines), "questions")
