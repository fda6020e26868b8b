# ruff: noqa: E501
"""Write questions.jsonl, the second frozen tuning set of user documents (2026-11-27), with
answer_start computed for the .md and .txt files. Kept to show how the file was made; do not
edit the questions."""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXT = {"brightwater-dental": ".html", "quillsync-readme": ".md", "eastfield-library-rules": ".txt",
       "saltmere-water-report": ".pdf", "hillcrest-parents": ".docx"}
Q = []


def q(doc, typ, question, answers=(), evidence=None, history=(), standalone=None):
    Q.append((doc, typ, question, list(answers), evidence, list(history), standalone))


D, R, L, W, S = "brightwater-dental", "quillsync-readme", "eastfield-library-rules", "saltmere-water-report", "hillcrest-parents"
# dental practice (HTML)
q(D, "direct", "Who founded Brightwater Dental Practice?", ["Dr Helen Kaur", "Helen Kaur"], "The practice was founded in 1994 by Dr Helen Kaur and moved to its present building, a converted bank, in 2008.")
q(D, "direct", "What is the NHS charge for a crown or bridge?", ["£319.10"], "Crown or bridge £319.10 from £550")
q(D, "direct", "How much is a private hygienist clean?", ["£58"], "Hygienist clean not available £58")
q(D, "direct", "How long is a new patient's first examination?", ["40-minute", "40-minute first examination"], "New patients have a 40-minute first examination.")
q(D, "direct", "Who is the practice manager?", ["Sean Whitlock"], "The practice has three dentists, two hygienists and a practice manager, Sean Whitlock.")
q(D, "direct", "When does the practice close on Fridays?", ["4pm"], "We are open Monday to Thursday from 8.30am to 6pm and Friday from 8.30am to 4pm.")
q(D, "paraphrase", "What was the dentist's building before it became a surgery?", ["a converted bank", "bank"], "The practice was founded in 1994 by Dr Helen Kaur and moved to its present building, a converted bank, in 2008.")
q(D, "paraphrase", "Can I sign up as an NHS patient if I'm 35?", ["under 18 only", "We are taking new NHS patients under 18 only"], "We are taking new NHS patients under 18 only; adults can join as private patients.")
q(D, "paraphrase", "What happens if I don't turn up to a private appointment and didn't warn you?", ["charged at £30", "£30"], "Missed appointments without 24 hours' notice are charged at £30 for private patients.")
q(D, "paraphrase", "Who should I phone for an emergency toothache at the weekend?", ["NHS 111"], "Outside these hours, call NHS 111 for urgent dental care.")
q(D, "paraphrase", "How do wheelchair users get into the building?", ["through the side door on Mill Street", "the side door on Mill Street"], "There is step-free access through the side door on Mill Street and a ground-floor surgery for patients who cannot use stairs.")
q(D, "paraphrase", "What does a private filling start at?", ["from £120", "£120"], "Filling or root canal £73.50 from £120")
q(D, "paraphrase", "Which dentist runs the clinic for kids?", ["Dr Amara Osei", "Amara Osei"], "Dr Amara Osei leads the children's clinic on Wednesday afternoons.")
q(D, "followup", "And what would it cost privately?", ["£65"], "Check-up and X-rays £26.80 £65", ["How much is an NHS check-up and X-rays?"], "What is the private fee for a check-up and X-rays at Brightwater?")
q(D, "unanswerable", "How much does teeth whitening cost at Brightwater?")
q(D, "unanswerable", "What is Dr Helen Kaur's phone extension?")
q(D, "unanswerable", "Does the practice offer Invisalign braces?")
q(D, "unanswerable", "How much does an NHS denture cost at Brightwater?")
# quillsync README (Markdown)
q(R, "direct", "What language is quillsync written in?", ["Go"], "It is a single command-line program written in Go, released under the MIT licence.")
q(R, "direct", "What is the default value of max_file_size?", ["10 MB"], "| `max_file_size` | 10 MB | Larger files are skipped with a warning |")
q(R, "direct", "Who started quillsync?", ["Marta Lindqvist"], "quillsync was started in 2021 by Marta Lindqvist to replace a shell script she used for her own notes.")
q(R, "direct", "When did version 1.0 come out?", ["March 2023"], "Version 1.0 came out in March 2023.")
q(R, "direct", "Which Go version is needed to build quillsync?", ["Go 1.22 or newer", "1.22"], "Download the release for your system from the project page, or build it yourself with Go 1.22 or newer:")
q(R, "paraphrase", "Under what licence can I use quillsync?", ["the MIT licence", "MIT"], "It is a single command-line program written in Go, released under the MIT licence.")
q(R, "paraphrase", "How quickly does a saved change reach the server?", ["within two seconds", "two seconds"], "After that, `quillsync run` watches the folder and sends every saved change within two seconds.")
q(R, "paraphrase", "What happens to a note that was edited on both machines?", ["the older copy is saved beside the note with the suffix `.conflict`", "the older copy is saved beside the note"], "With `conflict` set to `keep-both`, the older copy is saved beside the note with the suffix `.conflict`.")
q(R, "paraphrase", "Which files does quillsync never upload by default?", ["`*.tmp`", "*.tmp"], "| `ignore` | `*.tmp` | Files that are never sent |")
q(R, "paraphrase", "Where do I report a vulnerability?", ["security@quillsync.example.org"], "Security problems should be reported privately to security@quillsync.example.org, not in the public issue tracker.")
q(R, "paraphrase", "Are my notes encrypted on the server?", ["not encrypted on the server unless you turn on `encrypt_at_rest`", "unless you turn on `encrypt_at_rest`"], "Notes are not encrypted on the server unless you turn on `encrypt_at_rest`, which uses AES-256 with a key that never leaves your laptop.")
q(R, "paraphrase", "How much disk space does the program take?", ["about 15 MB", "15 MB"], "The program needs about 15 MB of disk space and runs on Linux, macOS and Windows.")
q(R, "followup", "What cipher does it use for that?", ["AES-256"], "Notes are not encrypted on the server unless you turn on `encrypt_at_rest`, which uses AES-256 with a key that never leaves your laptop.", ["Can quillsync encrypt notes at rest?"], "What cipher does quillsync's encrypt_at_rest use?")
q(R, "followup", "How many people have contributed to it?", ["about 40 contributors", "about 40"], "The project has about 40 contributors.", ["Who started quillsync?"], "How many contributors does the quillsync project have?")
q(R, "unanswerable", "What is the default value of retry_limit?")
q(R, "unanswerable", "What port does the quillsync server listen on?")
q(R, "unanswerable", "When will quillsync 2.0 be released?")
q(R, "unanswerable", "How much does a quillsync support contract cost?")
# library rules (plain text)
q(L, "direct", "How many items can an adult borrow at a time?", ["up to 12 items", "12"], "Adults may borrow up to 12 items at a time.")
q(L, "direct", "How long are DVDs lent for?", ["one week"], "Books are lent for three weeks and DVDs for one week.")
q(L, "direct", "How much does a replacement library card cost?", ["£2"], "A replacement card costs £2.")
q(L, "direct", "Who is the library manager?", ["Priya Desai"], "Library manager: Priya Desai.")
q(L, "direct", "What time does the library close on Tuesdays?", ["5pm"], "Tuesday and Thursday: 9am to 5pm.")
q(L, "paraphrase", "What's the most I can be fined for one late book?", ["£5 per item", "£5"], "Adult books returned late are charged 20p per day, up to a maximum of £5 per item.")
q(L, "paraphrase", "Do kids pay if they bring a book back late?", ["There are no fines on children's books", "no fines"], "There are no fines on children's books.")
q(L, "paraphrase", "How much is a colour printout?", ["50p per colour page", "50p"], "Printing costs 10p per black-and-white page and 50p per colour page.")
q(L, "paraphrase", "Where do I find the Wi-Fi password?", ["printed on your receipt", "on your receipt"], "Wi-Fi is free; the password is printed on your receipt.")
q(L, "paraphrase", "How many times may I extend a loan?", ["twice"], "Items can be renewed twice, online or by phone, unless another member has reserved them.")
q(L, "paraphrase", "Is the library open on a Sunday?", ["Closed on Sundays and bank holidays", "Closed on Sundays"], "Closed on Sundays and bank holidays.")
q(L, "paraphrase", "What does my 10-year-old need to join?", ["a parent or guardian to sign their form", "a parent or guardian"], "Children under 12 need a parent or guardian to sign their form.")
q(L, "followup", "And how long can I keep a book?", ["three weeks"], "Books are lent for three weeks and DVDs for one week.", ["How long are DVDs lent for?"], "How long are books lent for at Eastfield library?")
q(L, "unanswerable", "How much does it cost to borrow an e-book?")
q(L, "unanswerable", "What is the fine for a late DVD?")
q(L, "unanswerable", "¿A qué hora cierra la biblioteca los sábados?")
# water report (PDF)
q(W, "direct", "What was the average pH of Saltmere's water?", ["7.6"], "Average pH: 7.6")
q(W, "direct", "How many tests were carried out?", ["1,142"], "All 1,142 tests met the legal standards for drinking water.")
q(W, "direct", "Who prepared the water quality report?", ["Dr Elliot Marsh", "Elliot Marsh"], "The report was prepared by the company's water quality manager, Dr Elliot Marsh.")
q(W, "direct", "How deep is the Brede borehole?", ["60 metres", "60 metres deep"], "Most of Saltmere's water comes from the Brede borehole, 60 metres deep, and is blended with river water from the Elwy intake in summer.")
q(W, "direct", "What is the legal limit for nitrate?", ["50 mg/l"], "Nitrate, highest result: 18 mg/l (limit 50 mg/l)")
q(W, "paraphrase", "Is Saltmere's water hard or soft?", ["hard", "classed as hard"], "Saltmere's water is classed as hard.")
q(W, "paraphrase", "What chemical is used to disinfect the water?", ["chlorine"], "The water is disinfected with chlorine before it leaves the works.")
q(W, "paraphrase", "Which company supplies Saltmere's water?", ["Coastline Water"], "Samples were taken by Coastline Water at 38 customer taps and at the Brede treatment works.")
q(W, "paraphrase", "What went wrong with the Lower Brede sample?", ["showed slightly raised iron", "slightly raised iron"], "One sample in Lower Brede, taken on 14 May 2026, showed slightly raised iron after work on a water main; a repeat sample three days later was normal.")
q(W, "paraphrase", "How should I set my dishwasher?", ["set its water softener to the hard water setting", "the hard water setting"], "Customers with a dishwasher should set its water softener to the hard water setting.")
q(W, "paraphrase", "How many household taps were sampled?", ["38", "38 customer taps"], "Samples were taken by Coastline Water at 38 customer taps and at the Brede treatment works.")
q(W, "followup", "When are they available?", ["Monday to Friday from 8am to 6pm"], "Customers with questions about their water can call the water quality team on 0800 555 0199, Monday to Friday from 8am to 6pm.", ["What number do I call with questions about my water?"], "When can customers call Coastline Water's water quality team?")
q(W, "unanswerable", "What was the average pH in the first quarter of 2026?")
q(W, "unanswerable", "How much fluoride is in Saltmere's water?")
q(W, "unanswerable", "What was the highest lead result in Upper Brede?")
# school (Word)
q(S, "direct", "Who is the headteacher of Hillcrest?", ["Mrs Joanna Pryce", "Joanna Pryce"], "The headteacher is Mrs Joanna Pryce, who joined the school in 2019.")
q(S, "direct", "When does the spring term start?", ["5 January 2027"], "Spring 5 January 2027 26 March 2027")
q(S, "direct", "How much does the coding club cost per term?", ["£45"], "Coding Thursday £45")
q(S, "direct", "What time do lessons start?", ["8.50am"], "The gates open at 8.40am and lessons start at 8.50am.")
q(S, "direct", "How many pupils does Hillcrest have?", ["210", "210 pupils"], "It has 210 pupils in seven classes.")
q(S, "paraphrase", "When do the children break up for summer?", ["21 July 2027"], "Summer 12 April 2027 21 July 2027")
q(S, "paraphrase", "Which day is choir?", ["Tuesday"], "Choir Tuesday free")
q(S, "paraphrase", "How much is breakfast club each day?", ["£3.50 a morning", "£3.50"], "Breakfast club runs from 7.45am in the hall and costs £3.50 a morning.")
q(S, "paraphrase", "What colour is the school jumper?", ["green", "a green sweatshirt"], "The uniform is a green sweatshirt with the school badge, a white polo shirt and grey or black trousers, skirt or shorts.")
q(S, "paraphrase", "By what time must I call in when my child is sick?", ["before 9.15am", "9.15am"], "If your child is ill, phone the office before 9.15am on the first day of absence.")
q(S, "paraphrase", "Where do I pick my child up after a club?", ["from the main entrance", "the main entrance"], "Clubs finish at 4.30pm; children must be collected from the main entrance.")
q(S, "followup", "And when does it end?", ["18 December 2026"], "Autumn 3 September 2026 18 December 2026", ["When does the autumn term start?"], "When does the autumn term end at Hillcrest?")
q(S, "unanswerable", "How much are school dinners?")
q(S, "unanswerable", "How much does the football kit cost?")
q(S, "unanswerable", "What is the headteacher's email address?")
q(S, "unanswerable", "学校几点放学？")
# chit-chat
q("", "unanswerable", "hello there")
q("", "unanswerable", "ok thank you")

out = []
for i, (doc, typ, question, answers, evidence, history, standalone) in enumerate(Q, 1):
    start = None
    if answers and EXT[doc] in (".md", ".txt"):
        raw = (HERE / "docs" / (doc + EXT[doc])).read_text(encoding="utf-8")
        e = raw.find(evidence)
        assert e >= 0, (question, evidence)
        start = raw.find(answers[0], e)
    rec = {"id": f"userdocs-dev2-{i:03d}", "question": question, "history": history, "answers": answers,
           "doc_id": doc, "answer_start": start, "evidence": evidence, "type": typ,
           "unanswerable": typ == "unanswerable"}
    if standalone:
        rec["standalone"] = standalone
    out.append(json.dumps(rec, ensure_ascii=False))
(HERE / "questions.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
print(len(out), "questions")
