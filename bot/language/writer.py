"""Who is writing, read from whose withdrawal the message describes (issue 18).

Real writers seldom say 母です. They show who they are by whose days they describe:
「35になる息子が部屋にこもっています」 (a family member writes), 「息子さんは長くひきこもっています」
(someone else's son: a care worker writes), 「部屋にひきこもっています」 with no one named (the writer
is the person). So the reading follows the subject of every withdrawal predicate:

* a が-subject holds within its clause; a は/も topic carries on across clauses and sentences
  (「息子は高校を出てから働かず、部屋にこもっています」);
* a predicate with no subject in view is the current topic's; with no topic yet, that of a family
  member named before it (「中2の息子に避けられています。…部屋から出てきません」), else the writer's.

Other cues are weighed with it: the writer's own introduction (50代の主婦です) says who writes, not
who is concerned; a role (民生委員をしています) or someone else's family said with respect (息子さん)
means the writer is not family; a worry only a parent has (私が死んだあと) means the writer is family.

`read_writer` returns every cue it used and a verdict with its margin: under the threshold the
verdict is None, and the bot asks rather than guesses. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.language.kinship import alternation, kinship
from bot.language.normaliser import normalize

RELATIONS = ("self", "family", "other")
# Withdrawal, not-working, not-at-school predicates (on text without spaces).
_WITHDRAWAL = (
    r"ひきこも|引きこも|引き籠|閉じこも|とじこも|こもって|こもっとる|こもりがち|こもるよう|こもりだし|籠っ|籠も|籠り|篭っ|篭も|"
    r"(部屋|家|外|自室|実家)(から|に|へ|を)(ほとんど|あまり|全然|まったく|一歩も|一切|なかなか|ずっと)?(出|で)(て|ら|れ|な|ず|ん|ま|よう)|"
    r"外出(でき|し)(な|ま)|(そと|外)(出|で)(て|れ)(な|ね|ませ)|"
    r"出てこ(な|ず|ん)|出てき(ません|ていない|てない)|一歩も(外|出)|"
    r"働いて(い)?(な|ません)|働か(ず|な)|働けて|仕事をして(い)?な|仕事もせず|無職|ニート|"
    # school, said with or without particles, in kanji or kana (学校いってない, がっこういけてない)
    r"不登校|(学校|がっこう|ガッコウ|大学|だいがく|高校|こうこう|中学|ちゅうがく|小学校)(に|へ|には|にも)?(よう|もう)?(行|い)"
    r"(って|けて|け|か|きたく)(い|お)?(な|ね|ず|ん|ませ)|(学校|がっこう|大学|高校|中学)(に|へ)?(行|い)(けとら|っとら|かれ)ん|学校(を|も)?休|登校(でき|し)(な|ず)|"
    r"(家|実家|部屋)に(おり|おる|いま|いる|こも)(?!と|して|時|とき|間)|"
    # work: absent, not coming in, out of touch
    r"休職|休みがち|休んで(い|お|ばかり)|欠勤|会社に来(な|て)|(出社|出勤|登校)(でき|し)(な|ず|て(こ|き)(ず|な)|て(い|お)?(な|ませ))|"
    r"出てこられ(な|ず|て(い)?ません)|来(て|られ)(い)?(な|ません)|来なくな|連絡(が|も)?(取れ|とれ|つか)(な|ず)|"
    # isolation of an older person (父が定年で辞めてから人と関わろうとしない)
    r"人と(関わ|かかわ)(ろう|ら)(と)?(し)?(な|ず)|(誰|だれ)とも(話さ|会わ|関わら|口をきか|話して(い)?(な|ませ)|会って(い)?(な|ませ)|しゃべって(い)?(な|ませ))|人を寄せつけ|電話に出(な|ず)"
)
# Someone the writer avoids or fears meeting (近所の人に会うのもいや, 同級生と顔を合わせるのが怖い):
# the writer's own days, not someone the message is about.
_AVOIDED = r"(?:に|と)(?:会う|会わ|会い|あう|あわ|あい|出くわ|顔を合わせ|かおをあわせ|見られ|みられ)|の目(?:が|を)|が(?:怖|こわ)"
# One's parents as the writer sees them or lives on them (親の顔を見れん, 母親見たら白髪が): the
# writer is their child, telling their own days.
_SEEN_OR_RELIED_ON = r"の(?:顔|目|白髪|背中|年金|すね|脛|稼ぎ)|を?見(?:ると|たら|るたび)"
# The other parent named beside a parent's worry (主人は放っておけと言う, 夫にも相談したが).
_CO_PARENT = re.compile(r"(?:主人|夫|旦那|妻|家内)(?:は|も|に|と|が)")
# One's own age glued to the end of telling one's days (今は何もしてない19です, ひきこもりの35です).
_AGE_AFTER_OWN_DAYS = re.compile(r"(?:ない|てる|でる|いる|ます|の)\d{1,2}(?:歳|才|さい)?(?:です|だ|っす|でーす)")
# 「友達ができず」「友だちはいない」: the writer has no friends; nobody else is the subject.
_LACKS_PEOPLE = re.compile(
    r"(友達|友だち|ともだち|友人|知り合い|仲間|彼女|彼氏|恋人)(が|は|も)(でき|いな|いませ|おら|少な|ほとんど)"
)
# Someone told the writer about the person (知り合いのお母さんから相談を受けた): a third party writes.
_RELAYED = re.compile(r"から[^。]{0,8}?(相談を受け|相談され|打ち明けられ)|相談を受けて(い)?(る|ます)")
# Hearsay after a predicate (家にこもってるみたいです, 行っていないらしい): someone else's days.
_HEARSAY_AFTER = re.compile(
    r"[^、。]{0,6}?(みたい|らしい|ようです|ようだ|ような|そうです|そうだ|って(聞|言)|と(聞|言)(い|き))"
)
_GONE_AFTER = re.compile(
    r"(?:急に|突然|去年|昨年|先月|\d+年前に)?(?:亡くな|なくな(?:っ|り|る)|他界|死ん|逝っ|先立|出て行っ|出ていっ|家を出て(?:行|い)っ)"
)
_UNREACHABLE = re.compile(
    r"([^\s、。がはもをにの]{1,8}?)(?:さん|くん|ちゃん)?と(?:[^、。]{0,6}?)(?:連絡|れんらく)(?:が|も)?(?:取れ|とれ|つか|つながら|繋がら)"
)
# 「子どもが2人いますが」: relatives said to exist, not described (「息子が一人おりますが、…出て
# きません」 is that son's days, so only two or more).
_HAS_RELATIVE_AFTER = re.compile(r"(?:が|は)?(?:[2-9]人|二人|ふたり|三人|さんにん|四人)(?:い|お)(?:ます|る|て|りま)")
# 「友達のことでしんどくて」: what the writer suffers from, not whom the message is about.
_CAUSE_AFTER = re.compile(r"(?:しんど|つら|辛|悩|落ち込|おちこ|傷つ|もめ|揉め|ケンカ|けんか|喧嘩|いろいろ|色々|嫌な)")
_POLITE = re.compile(r"(です|ます|ません|でした|ました|ください|下さい|ございます|でしょう|おります|じゃろうか)")
_REPORTED = re.compile(r"[^、。]{0,6}?(そうです|そうだ|そうで|って(聞|言)|と(聞|言)(い|き)|らしい)")
# Where a が-subject stops holding: a subordinate clause ends (私が家にいると | 部屋から出てきません).
# (友達ができず | 家にこもる). A te-form chain keeps its subject (息子が20代後半で、…家にいます).
# A withdrawal word that names the notion (ひきこもりって, ひきこもりとは) or a past that is over
# (昔ひきこもっていた, 元ひきこもり) says nothing about whose days the message describes.
_NOT_A_PREDICATE_AFTER = re.compile(
    r"(なん(です|でしょう)?か|って|とは|だとは|という|の人|の方|の方々|について|の定義|の支援|の相談|のこと|の(そうだん|こと)"
    r"|支援|状態の|世代|のため)"
)
# ひきこもっている人 / 家から出られない人のための: a relative clause on someone unnamed.
_GENERIC_PERSON_AFTER = re.compile(r"[^、。]{0,9}?(人|方|者|方々|人たち)(?!生)")
_PAST_OR_FORMER = re.compile(
    r"昔(?!から)|むかし(?!から)|以前(?!から|より)|かつて|元(?=ひき|引き|ニート|不登校)|若い頃|学生の頃|頃は"
)
# The predicate modifies who follows it: 家から出られない私, ひきこもりの娘, 学校に行けなくなった息子,
# 家にこもっている30代後半の息子 (a verb ending, then perhaps an age, then the person).
_TAIL_SHORT = re.compile(r"[りれらなかいるたてのずがち中ぎみ]{0,5}")
_CLEFT_BEFORE = re.compile(r"(?:のは|なのは)[^、。]{0,12}$")
_KANA_RUN = re.compile(r"[ぁ-ゖ]{1,8}")
_AGE_OF = re.compile(
    r"(?:今年で|もう)?\d{1,2}(?:代(?:前半|後半|半ば)?|歳|才|年|年目|か月|ヶ月|カ月)(?:以上|近く|くらい|ぐらい|ほど|余り)?(?:に(?:なる|なった))?の?"
)

_CLAUSE_BREAK = re.compile(
    r"(?<=[るたい])の(?=を?(きい|聞い|見|知っ|しっ))|(?<=[るたいくす])と(?![もかしこ])|(?<=[れ])ば(?!か)|たら|ので|けど|けれど|(?<=[だす])が(?=、)|から、"
    r"|(?<=[^っ]ず)(?=[、\u4e00-\u9fff])"
)
_SENTENCE = re.compile(r"[。！？!?\n]|・・・|…")


@dataclass(frozen=True)
class WriterCue:
    relation: str  # self | family | other
    weight: float
    why: str  # a short code (subject:息子, intro:主婦, worry:親亡き後 …)


@dataclass(frozen=True)
class WriterReading:
    relation: str | None
    margin: float
    cues: tuple[WriterCue, ...] = ()
    concerned_word: str | None = None  # the family word for the person concerned (息子)

    def score(self, relation: str) -> float:
        return sum(c.weight for c in self.cues if c.relation == relation)


@dataclass(frozen=True)
class _Words:
    subject: re.Pattern[str]
    withdrawal: re.Pattern[str]
    self_intro: re.Pattern[str]
    role_intro: re.Pattern[str]
    parent_worry: re.Pattern[str]
    partner_family: re.Pattern[str]
    own_parent_mention: re.Pattern[str]
    subject_head: re.Pattern[str]
    anyone_else: re.Pattern[str]
    first_person_state: re.Pattern[str]
    about_role: re.Pattern[str]
    own_kin: re.Pattern[str]
    kin_word: re.Pattern[str]
    own_parent_seen: re.Pattern[str]
    me_topic: re.Pattern[str]
    unnamed_person: re.Pattern[str]


@lru_cache(maxsize=1)
def _words() -> _Words:
    k = kinship()
    kin = "|".join(kn.pattern for kn in sorted(k.kin, key=lambda x: -max(len(w) for w in x.words)))
    honor = alternation(k.others_kin)
    me = alternation(k.first_person)
    roles = alternation(k.role_words() + tuple(k.roles.get("concerned_by_role", ())))
    owners = alternation(k.role_words())
    neutral = alternation(k.neutral)
    # The writer's spouse's relatives (夫のお姉さん, 主人の兄) are in-laws: family, whatever the form.
    spouse = "|".join(kn.pattern for kn in k.kin if kn.writer == "配偶者")
    # (OWNER の)? WORD + (honorific)? + subject/topic particle. Named groups say which list it came
    # from. 兄弟 / 姉妹 are the writer's siblings in general, never one of them.
    subject = re.compile(
        rf"(?:(?:(?P<owner_me>{me})の|(?P<owner_spouse>{spouse})の|(?P<owner_other>{owners})(?:さん)?の)お?)?"
        rf"(?:(?P<honor>{honor})|(?P<role>{roles})(?:さん|ちゃん|くん|君)?|(?<![兄姉従義親])(?P<kin>{kin})(?![弟妹])(?P<kin_hon>さん|ちゃん|くん|君)?(?:\(\d{{1,2}}(?:歳|才)?\)|\d{{1,2}}(?:歳|才))?"
        rf"|(?P<neutral>{neutral})|(?P<me>{me})(?:自身)?)"
        # a count between the person and the particle: お孫さん4人が, 子ども二人とも
        r"(?:\d{1,2}人|二人|ふたり|三人|四人)?(?:とも|共)?"
        r"(?P<particle>のことで|のことです|のことなん(?:じゃ|だ|です)(?:けど|けれど|が)|のことじゃけど|のことなんです|のことについて|について|の件で|は|が|も|って|ったら|としか|の方が|のほうが"
        # casual speech drops the particle after その子 / 彼: その子ずっと学校行けてなくて
        r"|(?<=子|彼|女|人)(?=ずっと|もう|まだ|最近|いま|今|前から))"
    )
    return _Words(
        subject=subject,
        withdrawal=re.compile(_WITHDRAWAL),
        # The writer introduces themself by age, sex or station: who writes, not who is concerned.
        self_intro=re.compile(
            rf"^(?:(?:{me})は?[、\s]?)?(?:(?:\d{{1,2}}|[一二三四五六七八九]?十[一二三四五六七八九]?)(?:歳|才|に(?:なる|なります))?|\d0代(?:前半|後半|半ば)?)?[、\s]?の?"
            r"(?:主婦|主夫|男|女|男性|女性|母|父|母親|父親|会社員|パート|年金暮らし|一人っ子|長女|長男|次女|次男|者)"
            r"(?:です|でございます|で、|で|。)"
        ),
        role_intro=re.compile(
            rf"(?<!会)(?:{alternation(k.role_words())})(?:を(?:し|やっ|務め|つとめ|担当)|として|の者|です|で(?:働|伺|訪問)|をして|をしとる|を担当|で週|の補助|なん|じゃ|やって|で、)"
            r"|担当している者|(?:伺って|訪問して)いる(?:お宅|家|方)|担当(?:地区|ケース|している)"
        ),
        parent_worry=re.compile(
            r"(?:私|わたし|自分|わし|うち|わしら|私たち|わたしたち)(?:が|も)?(?:急に)?(?:死んだ|亡くなった|いなくなった|おらんようになった|動けなくなった)(?:ら|あと|後)"
            r"|親亡き後|親なき後|親なきあと|育て方|子育て|親として|母親として|父親として|親の(?:私|わたし)"
        ),
        partner_family=re.compile(r"事実婚|内縁"),
        # Someone else in the message (the writer's own parents and teachers do not count: a young
        # writer mentions them while telling their own days).
        anyone_else=re.compile(
            rf"(?:(?<![兄姉従義親])(?:{kin})(?![弟妹])|{honor}|(?!先生|教師|担任){roles}|{neutral}|人(?:が|は)|方(?:が|は))(?!以外|{_AVOIDED})"
        ),
        first_person_state=re.compile(
            r"(?:たい|たくない|たかった|てみたい|さみしい|寂しい|淋しい|つらい|辛い|しんどい|こわい|怖い|不安|むなしい|虚しい"
            r"|孤独|もうむり|もう無理|消えたい|どうしたらいい|どうすればいい"
            # one's own life told from inside: leaving a job or school, a diagnosis, one's own days
            r"|辞めて|辞めました|(?:仕事|会社|学校|高校|大学|バイト)を?(?:やめ|辞め)|(?:何|なに)もして(?:い)?(?:な|ませ)|退職し|クビに|解雇され|就職活動|就活|転職|アルバイトを|バイトを|体調を崩|と診断され"
            r"|と言われ(?:まし)?た|休学|中退|留年|起きるの|寝てばかり|昼夜逆転|返せて(?:い)?ない|話していません|話してない)"
        ),
        subject_head=re.compile(
            rf"(?P<kin>{kin})(?![弟妹さちく])|(?P<me>{me})(?:自身)?"
            rf"|(?P<role>{alternation(tuple(k.roles.get('concerned_by_role', ())))})(?:さん)?(?:が|は|の)"
        ),
        # 私の息子 / うちの娘: the writer's own family, said outright.
        # 部下のことで / 利用者さんについて: the consultation is about someone the writer looks after.
        about_role=re.compile(
            rf"({alternation(tuple(w for w in k.roles.get('concerned_by_role', ()) if w not in ('男性', '女性')))}|{honor})(?:さん|くん|ちゃん)?"
            r"(?:のことで|のことです|のことなんです|のことを|について|の件で|のことなん(?:じゃ|だ|です)(?:けど|けれど|が)|のことじゃけど)"
        ),
        own_kin=re.compile(
            rf"(?:(?:私|わたし|あたし|僕|ぼく|俺|おれ|うち|わし|自分)の|うちは、?)(?:{kin}|家族|身内)(?![弟妹さちく])"
            # 「うちの娘の友達のことで」: the friend is concerned, not the daughter.
            rf"(?!の(?:{alternation((*k.roles.get('友人・知人', ()), '同僚', '先輩', '後輩', '彼女'))}))"
        ),
        kin_word=re.compile(rf"(?<![兄姉従義])(?:{kin})"),
        unnamed_person=re.compile(rf"(?:{neutral}|{honor})(?:が|は|も|って)"),
        me_topic=re.compile(
            rf"(?:{alternation(tuple(x for x in k.first_person if x != 'うち'))})(?:自身)?(?:は|も|が)"
        ),
        own_parent_mention=re.compile(
            rf"(?:{alternation(k.own_parents)})(?:に|と|から|には|とは|との|が心配|に心配|{_SEEN_OR_RELIED_ON})"
        ),
        own_parent_seen=re.compile(rf"(?:{alternation(k.own_parents)})(?:{_SEEN_OR_RELIED_ON})"),
    )


def _clauses(sentence: str) -> list[str]:
    out, start = [], 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        out.append(sentence[start : m.end()])
        start = m.end()
    out.append(sentence[start:])
    return [c for c in out if c]


def _who(m: re.Match[str]) -> tuple[str, str]:
    """(relation of the writer if this is whose withdrawal it is, the word)."""
    if m.group("neutral"):
        return "none", m.group("neutral")
    if m.group("owner_spouse") and (m.group("kin") or m.group("honor")):
        return "family", m.group("owner_spouse") + "の" + (m.group("kin") or m.group("honor"))  # 夫のお姉さん
    if m.group("kin") and m.group("owner_other"):
        return "other", m.group("owner_other") + "の" + m.group("kin")  # 親友の弟
    if m.group("kin") and m.group("kin").endswith(("にいさん", "ねえさん")) and not m.group("owner_me"):
        return "other", m.group("kin")  # (お)にいさん said alone: someone's brother, said with respect
    if m.group("honor") or m.group("role") or m.group("kin_hon"):
        word = m.group("honor") or m.group("role") or (m.group("kin") + m.group("kin_hon"))
        return "other", word
    if m.group("kin"):
        return "family", m.group("kin")
    return "self", m.group("me")


def _head_after(clause: str, end: int, w: _Words) -> tuple[str, str] | None:
    """家から出られない私 / ひきこもりの娘: the person word right after the predicate."""
    tail = _TAIL_SHORT.match(clause, end)
    m = w.subject_head.match(clause, tail.end() if tail else end)
    run = _KANA_RUN.match(clause, end)
    for stop in range(run.end() if run else end, end, -1):
        if m:
            break
        if clause[stop - 1] in "るたいぬずて":
            age = _AGE_OF.match(clause, stop)
            if clause[stop - 1] != "て" or age:  # ひきこもって10年の兄
                m = w.subject_head.match(clause, age.end() if age else stop)
    # 欠勤が続いていた社員が: a longer relative clause, only on a role word (a kin word there is
    # as often the one who watches: 外に出ないよう見張っている父が).
    for stop in range(end + 1, min(len(clause), end + 14)):
        if m or clause[stop - 1] in "、。":
            break
        if clause[stop - 1] in "るたいぬず":
            role = w.subject_head.match(clause, stop)
            m = role if role and role.group("role") else None
    if not m:
        return None
    if m.group("kin"):
        return ("family", m.group("kin"))
    if m.group("me"):
        return ("self", m.group("me"))
    if m.group("role"):
        return ("other", m.group("role"))  # 欠勤が続いていた社員が: someone the writer looks after
    return None


def withdrawal_subjects(text: str) -> list[tuple[str, str]]:
    """For every withdrawal predicate: (the writer's relation it implies, the subject word or '')."""
    w = _words()
    norm = re.sub(r"\s+", "", normalize(text or ""))
    found: list[tuple[str, str]] = []
    topic: tuple[str, str] | None = None
    named: tuple[str, str] | None = None  # the last family member named, in any role
    last_person: tuple[str, str] | None = None  # the last person named as a subject, of any kind
    topic_frames = False
    kin_words = re.compile(
        "(?<![兄姉従義親])(?:" + "|".join(k.pattern for k in kinship().kin if not k.subject_only) + ")(?![弟妹])"
    )
    pending: list[tuple[int, int]] = []  # (sentence, index in found) of predicates with nobody in view
    named_in = -1
    for n_sentence, sentence in enumerate(_SENTENCE.split(norm)):
        if topic is not None and topic not in found and not topic_frames:
            topic = None  # a topic carries into the next sentence only once it is whose days are told
        for clause in _clauses(sentence):
            subject: tuple[str, str] | None = None
            events: list[tuple[int, str, re.Match[str]]] = [
                (m.start(), "s", m) for m in w.subject.finditer(clause) if not _LACKS_PEOPLE.match(clause, m.start())
            ]
            events += [(m.start(), "w", m) for m in w.withdrawal.finditer(clause)]
            events += [
                (m.start(), "k", m)
                for m in kin_words.finditer(clause)
                if not clause.startswith(("さん", "ちゃん", "くん"), m.end())
            ]
            for _pos, kind, m in sorted(events, key=lambda e: (e[0], e[1] != "s")):
                notion_at = m.end() + 1 if m.group(0).endswith("こも") else m.end()
                if kind == "w" and m.group(0).endswith("こも") and not clause.startswith("り", m.end()):
                    notion_at = -1  # ひきこもって: a verb, never the notion
                if kind == "w" and (
                    _GENERIC_PERSON_AFTER.match(clause, m.end())
                    or (notion_at >= 0 and _NOT_A_PREDICATE_AFTER.match(clause, notion_at))
                    or _PAST_OR_FORMER.search(clause, clause.rfind("、", 0, m.start()) + 1, m.start())
                ):
                    continue
                if kind == "k":
                    if (
                        _GONE_AFTER.match(clause, m.end() + (1 if clause[m.end() : m.end() + 1] in "がはも" else 0))
                        or clause.startswith(("以外", "いがい"), m.end())
                        or _HAS_RELATIVE_AFTER.match(clause, m.end())
                    ):
                        # 夫が亡くなって / 夫以外とは誰とも話さない / 子どもが2人いますが: not whose
                        # days are told
                        continue
                    named = ("family~", m.group(0))
                    named_in = n_sentence
                    if _CLEFT_BEFORE.search(sentence, 0, sentence.find(clause) + m.start()):
                        # ひきこもっているのは大学生の息子です: the cleft names whose days they are.
                        _resolve(found, pending, n_sentence, ("family", m.group(0)), ("family~", m.group(0)))
                    continue
                if kind == "s":
                    if _GONE_AFTER.match(clause, m.end()):
                        continue  # 夫が亡くなってから家を出られなく: whoever died is not whose days are told
                    if _HAS_RELATIVE_AFTER.match(clause, m.end()) or (
                        m.group("particle").startswith("の") and _CAUSE_AFTER.match(clause, m.end())
                    ):
                        # 子どもが2人いますが / 友達のことでしんどくて: a relative said to exist, or a
                        # cause of one's own distress, is not whose days are told
                        continue
                    who = _who(m)
                    if who[0] in ("family", "other"):
                        last_person = (who[0] + "~", who[1])
                    elif who[0] == "none" and m.group("particle") in ("が", "は", "も", "って"):
                        # 付き合ってる彼が…出てない。…部屋から出てこない: still his days, not the writer's
                        last_person = who
                        named = who
                        named_in = n_sentence
                    if m.group("particle") in ("は", "も", "って", "ったら") or m.group("particle").startswith(
                        ("の", "に")
                    ):
                        topic = who
                        # 「彼のことです」 frames the whole message; so does the writer as topic (私は…)
                        topic_frames = m.group("particle").startswith(("の", "に")) or who[0] == "self"
                    subject = who if m.group("particle") != "としか" else subject
                    # The person a later subjectless predicate falls back to: a family member,
                    # or someone else made the topic (友達は / 社員のことで), not 友達が悪口を…
                    if who[0] == "family" or (who[0] == "other" and m.group("particle") not in ("が",)):
                        named = (who[0] + "~", who[1])
                        named_in = n_sentence
                    if who[0] == "family" and m.group("particle") in ("が", "は") and _is_child_side(who[1]):
                        # 一度も働かないまま、息子が今年で29になります: the subject comes after the
                        # predicate; said in the next sentence it only names whom the message is about.
                        _resolve(
                            found,
                            pending,
                            n_sentence,
                            who,
                            ("family~", who[1]) if _is_child_side(who[1], spouse=False) else None,
                        )
                    continue
                head = _head_after(clause, m.end(), w)
                # A relative named in an earlier sentence is a weaker fallback than one in this one.
                fallback = named if named is None or named_in == n_sentence else (named[0] + "~", named[1])
                holder = head or subject or topic or fallback
                if holder is None and _HEARSAY_AFTER.match(clause, m.end()):
                    reported = _REPORTED.match(clause, m.end())  # そうです / って聞いた, not みたい
                    holder = last_person or ("none", "hearsay" if reported else "")  # never the writer
                if holder is None:
                    pending.append((n_sentence, len(found)))
                found.append(holder if holder else ("self", ""))
    return found


def _is_child_side(word: str, *, spouse: bool = True) -> bool:
    """A relative a parent, sibling or spouse writes about (息子, 兄, 夫), not the writer's own parent.
    A spouse named in the next sentence is as often the one who looks after a withdrawn writer."""
    kin = kinship().kin_of(word)
    return kin is not None and not kin.subject_only and (spouse or kin.writer != "配偶者")


def _resolve(
    found: list[tuple[str, str]],
    pending: list[tuple[int, int]],
    sentence: int,
    same: tuple[str, str],
    next_one: tuple[str, str] | None,
) -> None:
    """Give the predicates still without a subject to the person named after them."""
    for n, index in pending:
        if n == sentence:
            found[index] = same
        elif n == sentence - 1 and next_one is not None:
            found[index] = next_one
    pending.clear()


def _own_kin(norm: str, w: _Words) -> str | None:
    """私の息子 / うちの娘, unless 自分の is someone else's (私の親友が、自分の息子のことで)."""
    for m in w.own_kin.finditer(norm):
        sentence_start = max(norm.rfind(ch, 0, m.start()) for ch in "。！？!?") + 1
        before = norm[sentence_start : m.start()]
        if m.group(0).startswith("自分") and re.search(
            f"(?:{alternation(kinship().role_words())}|さん)(?:が|は)", before
        ):
            continue
        return m.group(0)
    return None


def read_writer(text: str, *, threshold: float = 1.5) -> WriterReading:
    """Who writes, weighing every cue; relation None when the margin is under `threshold`."""
    w = _words()
    norm = re.sub(r"\s+", "", normalize(text or ""))
    cues: list[WriterCue] = []
    concerned_word = None
    subjects = withdrawal_subjects(text)
    for relation, word in subjects:
        if relation == "none":
            if word == "hearsay":
                cues.append(WriterCue("other", 1.5, "hearsay"))  # 家にこもっていたそうです
            continue
        if relation.endswith("~"):
            kind = relation.rstrip("~")
            if kind == "family":
                concerned_word = concerned_word or word
            near = not relation.endswith("~~")
            cues.append(WriterCue(kind, 1.5 if near else 1.0, f"named:{word}" if near else f"named-before:{word}"))
        elif relation == "family" and word:
            kin = kinship().kin_of(word)
            concerned_word = concerned_word or word
            # A parent as the subject (母が…) is as often a withdrawn writer's mother as a withdrawn
            # parent: it counts, but less.
            parent = bool(kin and kin.subject_only)
            cues.append(WriterCue("family", 1.0 if parent else 2.0, f"subject:{word}" + (":parent" if parent else "")))
        elif relation == "other":
            cues.append(WriterCue("other", 2.0, f"subject:{word}"))
        elif word:
            cues.append(WriterCue("self", 2.0, f"subject:{word}"))
        else:
            cues.append(WriterCue("self", 1.0, "subject:none"))
    unreachable = _UNREACHABLE.search(norm)
    if unreachable and unreachable.group(1) in kinship().role_words():
        # 彼女と連絡がとれない: the one out of reach is whom the message is about.
        cues.append(WriterCue("other", 2.5, f"unreachable:{unreachable.group(1)}"))
    about = w.about_role.search(norm)
    if about:
        cues.append(WriterCue("other", 2.5, f"about:{about.group(1)}"))  # 部下のことでご相談します
    own = _own_kin(norm, w)
    if own:
        cues.append(WriterCue("family", 3.0, f"own:{own}"))
    elif w.role_intro.search(norm):
        cues.append(WriterCue("other", 2.5, "role"))
    relayed = _RELAYED.search(norm)
    told_by = norm[max(0, relayed.start() - 6) : relayed.start()] if relayed else ""
    by_own_kin = bool(w.kin_word.search(told_by)) and "の" not in told_by  # 姉から, not 知り合いのお母さんから
    if relayed and not own and not by_own_kin:
        cues.append(WriterCue("other", 2.5, "relayed"))
    if w.parent_worry.search(norm):
        cues.append(WriterCue("family", 1.0, "worry"))
        if _CO_PARENT.search(norm):
            cues.append(WriterCue("family", 1.0, "worry+spouse"))
    if w.partner_family.search(norm):
        cues.append(WriterCue("family", 2.5, "partner"))
    if w.self_intro.search(norm) and any(c.relation == "family" and c.why.startswith("subject:") for c in cues):
        cues.append(WriterCue("family", 1.0, "intro+kin"))
    if w.own_parent_mention.search(norm) and not any(c.relation == "family" for c in cues):
        cues.append(WriterCue("self", 0.5, "own-parents"))
    if (
        not _POLITE.search(norm)
        and any(c.why in ("subject:none", "own-state") for c in cues)
        and not any(c.relation != "self" and c.weight >= 1.5 for c in cues)
    ):
        # Plain speech (学校いってない, へやからでてない) with the days told from inside: a young
        # writer's own. Families writing about someone name them, and mostly write politely.
        cues.append(WriterCue("self", 1.0, "plain-style"))
    if not w.anyone_else.search(w.own_parent_seen.sub("", norm)):
        # Nobody else in the message: a wish (〜たい) or a feeling (さみしい, つらい) said with no
        # subject is the writer's own (Japanese says others' wishes and feelings otherwise:
        # 〜たがる, 〜そう), and so is a withdrawal told with no subject.
        states = {m.group(0) for m in w.first_person_state.finditer(norm)}
        if states:
            # Two or more things told from inside (辞めて…と言われた…就職活動) make a clear reading.
            cues.append(WriterCue("self", 1.5 if len(states) > 1 else 1.0, "own-state"))
        if any(c.why == "subject:none" for c in cues):
            cues.append(WriterCue("self", 0.5, "nobody-else"))
    kin_cue = any(c.relation == "family" for c in cues)
    if _AGE_AFTER_OWN_DAYS.search(norm) and not kin_cue:
        cues.append(WriterCue("self", 1.5, "age-after-own-days"))
    if (
        any(c.why == "subject:none" for c in cues)
        and not kin_cue
        and w.me_topic.search(norm)
        and not w.kin_word.search(norm)
        and not w.unnamed_person.search(norm)  # 付き合って2年の彼が…: the partner's days
    ):
        # A withdrawal told with no subject, the writer speaking of themself, and no relative
        # anywhere (家にこもるようになって6年…わたしは返事ができませんでした): the writer's own.
        cues.append(WriterCue("self", 1.0, "me-no-kin"))
    scores = {r: sum(c.weight for c in cues if c.relation == r) for r in RELATIONS}
    ranked = sorted(RELATIONS, key=lambda r: scores[r], reverse=True)
    best, second = ranked[0], ranked[1]
    margin = scores[best] - scores[second]
    decided = best if scores[best] > 0 and margin >= threshold else None
    return WriterReading(decided, margin, tuple(cues), concerned_word)


def tells_withdrawal(text: str) -> bool:
    """Does the message describe anyone's withdrawal (not at school, not working, not going out)?"""
    return bool(withdrawal_subjects(text))


def tells_own_life(text: str) -> bool:
    """Does the writer tell their own days from inside (辞めて4か月, 仕事もありません, 両親の顔を見ら
    れない)? Then a relative or a friend named in passing is not who the message is about."""
    w = _words()
    norm = normalize(text or "")
    return bool(w.first_person_state.search(norm) or w.own_parent_mention.search(norm) or _OWN_LIFE.search(norm))


# One's own circumstances, said without a subject: no job, living with one's parents, no one to rely on.
_OWN_LIFE = re.compile(
    r"(?:仕事|職)(?:も|は|が)(?:ありません|ない|なく|していません|してない|しておらず|見つから)"
    r"|(?:頼れる|たよれる)(?:[^。]{0,6})(?:いない|いません|おらん|ない)|一人きり|ひとりきり|一人暮らし|独り身"
    r"|(?:親|両親|母|父)と(?:暮らして|くらして|住んで|同居)"
)


def person_before(text: str, pos: int) -> str | None:
    """The person named as topic or subject right before `pos` in the same clause (利用者さんは|80代,
    息子が|36歳で), or None."""
    head = re.sub(r"\s+", "", normalize(text[:pos] or ""))
    found = None
    for m in _words().subject.finditer(head):
        between = head[m.end() :]
        if len(between) <= 4 and not re.search(r"[、。,]", between):
            found = _who(m)[1]
    return found or None


def names_someone_else(text: str) -> bool:
    """Is a relative, a role or someone said with respect the subject or topic of a clause
    (父が, 社員が, 親戚の女性のことで)? Then the message is about them, whatever else it tells."""
    norm = re.sub(r"\s+", "", normalize(text or ""))
    return any(_who(m)[0] in ("family", "other") for m in _words().subject.finditer(norm))
