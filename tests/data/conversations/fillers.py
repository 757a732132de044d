# Hand-written filler turns (greetings, small talk, resolved side topics, interludes) used by
# build.py to lengthen or decorate conversations without changing what the final request depends on.
# Written for this data set; CC0-1.0 like the rest of this directory.

EN = dict(
    greet=[
        ("hi", "Hi! How can I help?"),
        ("Hello there", "Hello! What can I do for you today?"),
        ("hey, good morning", "Good morning! What do you need help with?"),
        ("hi, hope you're having a good day", "Thanks, you too! How can I help?"),
        ("yo", "Hey! What's up?"),
        ("good evening!", "Good evening! How can I help you?"),
        ("Hi, it's me again", "Welcome back! What can I help with?"),
        ("hello? anyone there", "I'm here. What can I do for you?"),
    ],
    topics=[
        [("what's 18% of 240?", "18% of 240 is 43.2.")],
        [("how do you spell 'necessary'?", "N-E-C-E-S-S-A-R-Y."), ("thanks, I always forget that one", "Happens to everyone!")],
        [("if it's 9am in London, what time is it in Tokyo?", "5pm or 6pm in Tokyo, depending on whether the UK is on summer time.")],
        [("quick one: how many fluid ounces in a cup?", "8 US fluid ounces."), ("perfect", "Glad that helped.")],
        [("can you suggest a name for a grey kitten?", "How about Ash, Smokey or Pebble?"), ("Pebble is cute, thanks", "Pebble it is!")],
        [("give me a synonym for 'quick'", "Fast, rapid, speedy or swift.")],
        [("is it 'affect' or 'effect' in 'the rain will ___ the game'?", "'Affect' - it's the verb there.")],
        [("remind me what PDF stands for", "Portable Document Format.")],
        [("any tips for staying awake in the afternoon?", "A short walk, some water and daylight usually help more than another coffee."), ("I'll try the walk", "Good plan!")],
        [("convert 30 celsius to fahrenheit", "30°C is 86°F.")],
        [("who wrote Pride and Prejudice?", "Jane Austen.")],
        [("is this right: 'their going to the park'", "It should be 'they're going to the park'."), ("oops, thanks", "Any time!")],
        [("what's a good gift for a coworker who likes tea?", "A sampler of loose-leaf teas or a nice infuser mug."), ("the sampler sounds good", "Nice choice.")],
        [("how many minutes is 2.5 hours?", "150 minutes.")],
        [("what's the plural of 'cactus'?", "Both 'cacti' and 'cactuses' are accepted.")],
    ],
    talk=[
        ("long day today honestly", "Sorry to hear that. I'll try to keep this quick."),
        ("the weather here is awful", "That's no fun. Hope it clears up soon!"),
        ("you're faster than the phone line lol", "Happy to save you the hold music!"),
        ("I'm on my lunch break so I'll be quick", "Sure, let's be quick."),
        ("sorry, typing on my phone", "No problem at all."),
        ("my coworker said you're helpful", "Glad to hear it! Happy to help."),
        ("ok I'm back at my desk", "Great, go ahead."),
    ],
    inter=[
        ("hang on, someone's at the door", "No problem, take your time."),
        ("ok sorry, back", "Welcome back!"),
        ("one sec, grabbing a coffee", "Sure thing."),
        ("hmm ok", "Let me know if anything is unclear."),
        ("got it, thanks", "You're welcome!"),
        ("right, makes sense", "Great."),
    ],
    bridge=[
        ("ok, I'll leave that for now. Different question.", "Sure, what is it?"),
        ("thanks, that's sorted then. Something else:", "Go ahead."),
        ("alright, I'll think about that one. Another thing.", "Of course, what else?"),
        ("never mind that for now. new question", "No problem. What's the question?"),
    ],
    prefix=["Hi! ", "Hey, quick question. ", "Hello. ", "Good morning. ", "Um, hi. ", "Hey there! ", "Hi again. "],
)

KO = dict(
    greet=[
        ("안녕하세요", "안녕하세요! 무엇을 도와드릴까요?"),
        ("안녕", "안녕하세요! 어떤 일로 오셨어요?"),
        ("좋은 아침이에요", "좋은 아침입니다! 무엇이 필요하신가요?"),
        ("저기요, 계세요?", "네, 여기 있어요. 말씀하세요."),
        ("수고 많으십니다", "감사합니다! 어떻게 도와드릴까요?"),
        ("또 왔어요 ㅎㅎ", "다시 오셨네요! 무엇을 도와드릴까요?"),
    ],
    topics=[
        [("240의 15%가 얼마예요?", "36입니다.")],
        [("'어의없다'가 맞아요 '어이없다'가 맞아요?", "'어이없다'가 맞는 표기예요."), ("아 그렇구나 감사해요", "천만에요!")],
        [("2시간 반이면 몇 분이에요?", "150분이에요.")],
        [("섭씨 30도는 화씨로 몇 도예요?", "화씨 86도예요.")],
        [("회색 고양이 이름 추천해 줘", "잿빛이, 구름이, 먹물이는 어때요?"), ("구름이 귀엽다 ㅋㅋ 고마워", "구름이 좋네요!")],
        [("PDF가 뭐의 약자였죠?", "Portable Document Format의 약자예요.")],
        [("오후에 졸릴 때 좋은 방법 있어요?", "잠깐 걷거나 물을 마시고 햇볕을 쬐면 도움이 돼요."), ("산책해 볼게요", "좋은 생각이에요!")],
        [("'되'랑 '돼' 구분법 알려줘", "'하'를 넣어 말이 되면 '되', '해'를 넣어 말이 되면 '돼'예요.")],
    ],
    talk=[
        ("오늘 진짜 피곤하네요", "고생 많으셨어요. 빠르게 도와드릴게요."),
        ("여기 날씨 너무 춥네요", "따뜻하게 지내세요!"),
        ("전화 상담보다 훨씬 빠르네요 ㅋㅋ", "대기 시간 없이 도와드릴 수 있어 다행이에요."),
        ("폰으로 쳐서 오타 있을 수 있어요", "괜찮아요, 편하게 말씀하세요."),
        ("점심시간이라 짧게 물어볼게요", "네, 짧게 정리해 드릴게요."),
    ],
    inter=[
        ("잠깐만요, 택배 왔나 봐요", "네, 천천히 다녀오세요."),
        ("다시 왔어요", "네, 이어서 말씀하세요."),
        ("음 그렇군요", "궁금한 점 있으면 말씀해 주세요."),
        ("아 네 알겠어요", "네!"),
    ],
    bridge=[
        ("네 그건 나중에 생각해 볼게요. 다른 질문이요.", "네, 말씀하세요."),
        ("그건 됐고요, 하나 더 물어볼게요.", "네, 무엇인가요?"),
        ("알겠어요. 그리고 다른 거 하나만요.", "네, 말씀하세요."),
    ],
    prefix=["안녕하세요. ", "저기요. ", "질문 하나만요. ", "안녕하세요! ", "음. "],
)
