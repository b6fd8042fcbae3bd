import Core
import Foundation
let note = "import Fake"
print(coreValue())
