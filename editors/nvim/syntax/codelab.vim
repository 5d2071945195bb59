" The codelab chat buffer (see :help codelab-chat).
if exists('b:current_syntax')
  finish
endif

syntax match codelabHeader    /\%1l.*/
syntax match codelabUser      /^> .*/
syntax match codelabNote      /^· .*/
syntax match codelabAgent     /^\[\w\+\]/
syntax match codelabThought   /^  ┆ .*/
syntax match codelabOk        /^[✓✔] .*/
syntax match codelabError     /^✗ .*/
syntax match codelabRejected  /^⊘ .*/
syntax match codelabAsking    /^? .*/
syntax match codelabPlan      /^Plan v\d\+ .*/
syntax match codelabDone      /^  \[✓\]/
syntax match codelabFailed    /^  \[✗\]/
syntax match codelabRunning   /^  \[…\]/
syntax match codelabResult    /^      → .*/
syntax match codelabHint      /^  ga approve .*/
syntax match codelabKeys      /^    ga approve .*/
syntax match codelabDiffAdd   /^    │ +.*/
syntax match codelabDiffDel   /^    │ -.*/
syntax match codelabDiffHunk  /^    │ @@.*/

highlight default link codelabHeader   Title
highlight default link codelabUser     Statement
highlight default link codelabNote     Comment
highlight default link codelabAgent    Identifier
highlight default link codelabThought  Comment
highlight default link codelabOk       DiagnosticOk
highlight default link codelabError    DiagnosticError
highlight default link codelabRejected DiagnosticWarn
highlight default link codelabAsking   DiagnosticInfo
highlight default link codelabPlan     Title
highlight default link codelabDone     DiagnosticOk
highlight default link codelabFailed   DiagnosticError
highlight default link codelabRunning  DiagnosticInfo
highlight default link codelabResult   Comment
highlight default link codelabHint     Special
highlight default link codelabKeys     Special
highlight default link codelabDiffAdd  Added
highlight default link codelabDiffDel  Removed
highlight default link codelabDiffHunk Special

let b:current_syntax = 'codelab'
