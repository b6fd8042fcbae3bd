public func coreValue() -> Int { 42 }
